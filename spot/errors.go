package spot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/apperr"
)

// Sentinels for errors.Is; the returned errors carry details as well.
var (
	ErrNotFound            = &apperr.Error{Code: apperr.NotFound}
	ErrCapacityUnavailable = &apperr.Error{Code: apperr.CapacityUnavailable}
	ErrMFAInvalid          = &apperr.Error{Code: apperr.MFAInvalid}
	ErrAuthFailed          = &apperr.Error{Code: apperr.AWSAuthFailed}
	ErrThrottled           = &apperr.Error{Code: apperr.AWSThrottled}
	ErrUnavailable         = &apperr.Error{Code: apperr.AWSUnavailable}
	ErrInvalid             = &apperr.Error{Code: apperr.Invalid}
)

// EC2 and STS report errors as code strings (smithy.APIError's ErrorCode),
// not modeled types: the EC2 API reference's "Error codes" page lists them.
// These sets sort them into spotter's codes.
var (
	authCodes = set("AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "AccessDenied",
		"AccessDeniedException", "InvalidAccessKeyId", "OptInRequired", "Blocked",
		"PendingVerification", "RegionDisabledException", "IncompleteSignature")
	throttleCodes = set("RequestLimitExceeded", "Throttling", "ThrottlingException",
		"ThrottledException", "RequestThrottledException", "TooManyRequestsException",
		"EC2ThrottledException", "LimitExceededException", "PriorRequestNotComplete", "SlowDown")
	capacityCodes = set("InsufficientInstanceCapacity", "InsufficientCapacity",
		"UnfulfillableCapacity", "InsufficientHostCapacity", "SpotMaxPriceTooLow",
		"MaxSpotInstanceCountExceeded", "InstanceLimitExceeded", "VcpuLimitExceeded",
		"InsufficientReservedInstanceCapacity", "capacity-not-available", "price-too-low")
	unavailableCodes = set("InternalError", "InternalFailure", "ServiceUnavailable",
		"Unavailable", "RequestTimeout", "RequestTimeoutException", "RequestExpired")
)

func set(s ...string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// awsCode returns the AWS error code in err's chain, or "".
func awsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isCapacityCode reports whether an EC2 error code means "no capacity in
// this pool" (or quota), the case that on-demand fallback answers.
func isCapacityCode(code string) bool { return capacityCodes[code] }

// mapErr turns an SDK error from op (e.g. "EC2 CreateFleet in us-east-1")
// into an *apperr.Error. The AWS message is kept only for invalid requests,
// where it names the offending value (an AMI id, a key name) and a person
// needs it; auth and server messages go to the log through the cause.
func mapErr(err error, op string) error {
	if err == nil {
		return nil
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller went away; nothing to tell it
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return apperr.Wrap(err, apperr.AWSUnavailable, "%s did not answer in time", op)
	}
	code := awsCode(err)
	switch {
	case code == "":
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
			return apperr.Wrap(err, apperr.AWSUnavailable, "%s failed on the AWS side (HTTP %d); try again later", op, re.HTTPStatusCode())
		}
		return apperr.Wrap(err, apperr.AWSUnavailable, "%s could not reach AWS; try again later", op)
	case authCodes[code]:
		return apperr.Wrap(err, apperr.AWSAuthFailed, "AWS refused the token's credentials for %s (%s); check the stored keys, role and IAM policy", op, code)
	case throttleCodes[code]:
		e := apperr.Wrap(err, apperr.AWSThrottled, "AWS throttled %s (%s) %s; spotter calls are safe to repeat, so send the same request again after Retry-After", op, code, retriesSpent(err))
		e.RetryAfter = throttledRetryAfter
		return e
	case capacityCodes[code]:
		return apperr.Wrap(err, apperr.CapacityUnavailable, "%s: %s; allow more instance types or zones, or on-demand fallback", op, code)
	case unavailableCodes[code]:
		return apperr.Wrap(err, apperr.AWSUnavailable, "%s failed on the AWS side (%s); try again later", op, code)
	case strings.HasSuffix(code, ".NotFound") || strings.HasSuffix(code, "NotFoundException"):
		return apperr.Wrap(err, apperr.NotFound, "%s: %s", op, awsMessage(err, code))
	default:
		return apperr.Wrap(err, apperr.Invalid, "%s: %s", op, awsMessage(err, code))
	}
}

// awsMessage is "Code: message", the message trimmed to one short line.
func awsMessage(err error, code string) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorMessage() == "" {
		return code
	}
	msg := ae.ErrorMessage()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return code + ": " + msg
}

// retriesSpent says why spotter stopped retrying: the attempts ran out, or
// another back-off would have run past the caller's deadline.
func retriesSpent(err error) string {
	var de *deadlineError
	if errors.As(err, &de) {
		return fmt.Sprintf("on each of %d attempts, and another would not fit in the request's deadline", de.attempt)
	}
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return fmt.Sprintf("on each of %d attempts", me.Attempt)
	}
	return "after retries"
}
