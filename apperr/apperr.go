// Package apperr is the one error type that crosses package boundaries in spotter.
//
// Lower layers return an *Error carrying a stable snake_case code and details a
// person can act on; server/errors.go is the single place that maps a code to an
// HTTP status and writes the JSON body. Any other error is treated as internal:
// its text goes to the log, never to the client.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Stable error codes. They appear in replies as "error" and are part of the
// public interface: scripts switch on them, so never rename one.
const (
	Invalid     = "invalid_request"
	NotFound    = "not_found"
	Conflict    = "conflict"
	TooLarge    = "body_too_large"
	Unsupported = "unsupported_media_type"
	Unauth      = "unauthorized"
	Forbidden   = "forbidden"
	Unavailable = "unavailable"
	RateLimited = "rate_limited"
	Internal    = "internal_error"

	TokenInvalid     = "token_invalid"
	TokenExpired     = "token_expired"
	TokenRevoked     = "token_revoked"
	SignatureInvalid = "signature_invalid"
	SignatureExpired = "signature_expired"
	SignatureReplay  = "signature_replayed"
	PolicyDenied     = "policy_denied"
	MFARequired      = "mfa_required"
	MFAInvalid       = "mfa_invalid"
	MFAReplayed      = "mfa_replayed"
	// MFALocked: too many wrong MFA codes; no code is checked until the
	// lockout ends (Retry-After) or an operator unlocks the token.
	MFALocked = "mfa_locked"

	// PriceTooLow: every pool's price is over the request's ceiling. The
	// request can succeed only when it (or the market) changes, so it is
	// not a retryable capacity_unavailable.
	PriceTooLow         = "price_too_low"
	CapacityUnavailable = "capacity_unavailable"
	AWSThrottled        = "aws_throttled"
	AWSAuthFailed       = "aws_auth_failed"
	AWSUnavailable      = "aws_unavailable"
)

// Error is an error a client may see. Details must never hold a secret, a token,
// or an expected signature: it is written to the reply verbatim.
type Error struct {
	Code    string
	Details string
	// Err is the cause, kept for the log and for errors.Is; never sent to clients.
	Err error
	// RetryAfter, when positive, is how long the client should wait before
	// trying again; the server sends it as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	msg := e.Code
	if e.Details != "" {
		msg += ": " + e.Details
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is makes errors.Is(err, &Error{Code: X}) match any *Error with code X, so
// packages can export sentinels like ErrNotFound and still attach details.
func (e *Error) Is(target error) bool {
	if e == nil {
		return false
	}
	var t *Error
	if !errors.As(target, &t) || t == nil {
		return false
	}
	return t.Code == e.Code && t.Details == "" && t.Err == nil
}

// New returns an *Error with the given code and formatted details.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Details: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code whose cause is err. The cause is
// for logs only.
func Wrap(err error, code, format string, args ...any) *Error {
	return &Error{Code: code, Details: fmt.Sprintf(format, args...), Err: err}
}

// Code returns the code of the first *Error in err's chain, Internal for any
// other error, and "" for nil: no error has no code (as in wtf's ErrorCode).
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Code
	}
	return Internal
}

// RetryAfter returns the wait the first *Error in err's chain asks for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.RetryAfter
	}
	return 0
}

// Details returns the client-safe details of err, or "" for internal errors.
func Details(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Details
	}
	return ""
}
