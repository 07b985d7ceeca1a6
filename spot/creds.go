package spot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Credentials are a token's stored AWS credentials (api declares them,
// with their redaction).
type Credentials = api.Credentials

// MFA is the caller's AWS MFA device serial and one-time code.
type MFA struct {
	SerialNumber string
	Code         string `json:"-"`
}

// String redacts the code, which is single-use but still a secret while
// it is valid.
func (m MFA) String() string {
	if m.Code == "" {
		return "spot.MFA{" + m.SerialNumber + "}"
	}
	return "spot.MFA{" + m.SerialNumber + ", code redacted}"
}

// GoString keeps %#v redacted too.
func (m MFA) GoString() string { return m.String() }

// LogValue makes slog print the redacted form.
func (m MFA) LogValue() slog.Value { return slog.StringValue(m.String()) }

// STS session limits, as the STS API reference gives them: GetSessionToken
// lasts 900 s to 36 h for an IAM user; a chained role session at most 1 h.
const (
	minSession     = 900 * time.Second
	maxUserSession = 129600 * time.Second
	maxChained     = time.Hour // role chaining caps a session at one hour
)

// Session turns a token's stored credentials into the credentials for one
// task, as a static provider for the EC2 calls that follow.
//
//   - With an MFA serial and long-term keys, it calls GetSessionToken with the
//     code on every call: a cached session would skip the MFA check.
//   - With a role, it calls AssumeRole (session name "spotter-<tokenID>",
//     the external id, at most one hour when chained after GetSessionToken),
//     passing the MFA code to AssumeRole instead when there are no keys.
//   - Otherwise the keys are used as they are, without calling STS.
//
// An STS call that carries a code is made exactly once, never retried: AWS
// refuses a code it has seen, so a retry after a lost answer would turn a
// good code into a failure. Errors: mfa_required (serial but no code),
// mfa_invalid (STS refused the code), aws_auth_failed, aws_throttled,
// aws_unavailable, invalid_request.
func (c *Client) Session(ctx context.Context, tokenID string, creds Credentials, mfa MFA, region string) (aws.CredentialsProvider, error) {
	region, rc, err := c.region(region)
	if err != nil {
		return nil, err
	}
	base, err := c.baseCredentials(ctx, tokenID, creds)
	if err != nil {
		return nil, err
	}
	if err := checkMFA(mfa); err != nil {
		return nil, err
	}
	mfaPending := mfa.SerialNumber != ""
	// GetSessionToken needs long-term keys; a stored session token means the
	// keys are already temporary, so MFA can then only go to AssumeRole.
	if mfaPending && hasKeys(creds) && creds.SessionToken == "" {
		if base, err = c.mfaSession(ctx, rc, base, mfa); err != nil {
			return nil, err
		}
		mfaPending = false
		c.log.LogAttrs(ctx, slog.LevelInfo, "got MFA session", slog.String("token", tokenID), slog.String("region", region))
	}
	if creds.RoleARN == "" {
		if mfaPending {
			return nil, apperr.New(apperr.Invalid, "the token's MFA device needs long-term access keys or a role to present the code to")
		}
		return base, nil
	}
	if !mfaPending {
		mfa = MFA{}
	}
	p, err := c.assumeRole(ctx, rc, base, tokenID, creds, mfa)
	if err != nil {
		return nil, err
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "assumed role", slog.String("token", tokenID), slog.String("region", region), slog.Bool("mfa", mfaPending))
	return p, nil
}

func hasKeys(c Credentials) bool { return c.AccessKeyID != "" && c.SecretAccessKey != "" }

// baseCredentials picks what the first call is signed with: the token's
// keys, or for a role without keys spotter's own identity.
func (c *Client) baseCredentials(ctx context.Context, tokenID string, creds Credentials) (aws.CredentialsProvider, error) {
	switch {
	case hasKeys(creds):
		return credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken), nil
	case creds.RoleARN != "" && c.cfg.ServiceCredentials != nil:
		// Asked before AssumeRole so that "no identity" is told apart
		// from a role that refuses spotter.
		if _, err := c.cfg.ServiceCredentials.Retrieve(ctx); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "no AWS identity of spotter's own to assume a role with", slog.String("token", tokenID), slog.String("error", err.Error()))
			return nil, apperr.Wrap(err, apperr.AWSAuthFailed, noIdentity)
		}
		return c.cfg.ServiceCredentials, nil
	case creds.RoleARN != "":
		return nil, apperr.New(apperr.AWSAuthFailed, noIdentity)
	default:
		return nil, apperr.New(apperr.AWSAuthFailed, "the token stores no AWS credentials")
	}
}

// checkMFA refuses a missing or malformed code before STS sees it.
func checkMFA(mfa MFA) error {
	if mfa.SerialNumber != "" && mfa.Code == "" {
		return apperr.New(apperr.MFARequired, "this token requires an MFA code (mfaCode)")
	}
	if mfa.Code != "" && !validMFACode(mfa.Code) {
		return apperr.New(apperr.MFAInvalid, "mfaCode must be six digits")
	}
	return nil
}

// mfaSession presents the code to GetSessionToken, once.
func (c *Client) mfaSession(ctx context.Context, rc *regionClients, base aws.CredentialsProvider, mfa MFA) (aws.CredentialsProvider, error) {
	out, err := rc.sts.GetSessionToken(ctx, &sts.GetSessionTokenInput{
		SerialNumber:    aws.String(mfa.SerialNumber),
		TokenCode:       aws.String(mfa.Code),
		DurationSeconds: aws.Int32(int32(clampDuration(c.cfg.SessionDuration, minSession, maxUserSession).Seconds())),
	}, stsOnce(base))
	if err != nil {
		return nil, mapSTSErr(err, "STS GetSessionToken", true)
	}
	return staticFrom(out.Credentials)
}

// assumeRole assumes the token's role with base, presenting mfa's code
// (once, never retried) when it has one.
func (c *Client) assumeRole(ctx context.Context, rc *regionClients, base aws.CredentialsProvider, tokenID string, creds Credentials, mfa MFA) (aws.CredentialsProvider, error) {
	// One hour is the most a chained session may last, and the default
	// maximum of a role; a session serves one task, so more buys nothing.
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(creds.RoleARN),
		RoleSessionName: aws.String(sessionName(tokenID)),
		DurationSeconds: aws.Int32(int32(clampDuration(c.cfg.SessionDuration, minSession, maxChained).Seconds())),
	}
	if creds.ExternalID != "" {
		in.ExternalId = aws.String(creds.ExternalID)
	}
	opts := []func(*sts.Options){func(o *sts.Options) {
		o.Credentials = base
		o.Retryer = c.withDeadline(o.Retryer)
	}}
	withCode := mfa.SerialNumber != ""
	if withCode {
		in.SerialNumber = aws.String(mfa.SerialNumber)
		in.TokenCode = aws.String(mfa.Code)
		opts = []func(*sts.Options){stsOnce(base)}
	}
	out, err := rc.sts.AssumeRole(ctx, in, opts...)
	if err != nil {
		return nil, mapSTSErr(err, "STS AssumeRole", withCode)
	}
	return staticFrom(out.Credentials)
}

// noIdentity is what a role-only token hears when spotter itself has no
// AWS identity to call AssumeRole with.
const noIdentity = "the token holds a role (roleArn) and no keys, and this spotter has no AWS identity of its own to assume it with: " +
	"the operator gives spotter one (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance or task role allowed sts:AssumeRole on the role), " +
	"or rotates the token's credentials to include access keys"

// stsOnce runs an STS call with the given credentials and a single attempt.
func stsOnce(p aws.CredentialsProvider) func(*sts.Options) {
	return func(o *sts.Options) {
		o.Credentials = p
		o.RetryMaxAttempts = 1
	}
}

// mapSTSErr maps STS errors; with a code in the call, AccessDenied means the
// code was wrong, reused or expired (AWS does not say which).
//
// AssumeRole also answers AccessDenied for a trust policy that does not
// admit the caller; that is an auth failure, told apart by the message.
func mapSTSErr(err error, op string, withCode bool) error {
	var ae smithy.APIError
	mfaMsg := errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), "MultiFactorAuthentication")
	if withCode && awsCode(err) == "AccessDenied" && (op == "STS GetSessionToken" || mfaMsg) {
		return apperr.Wrap(err, apperr.MFAInvalid, "AWS refused the MFA code (wrong, expired or already used); wait for the next code and try again")
	}
	return mapErr(err, op)
}

func staticFrom(cr *ststypes.Credentials) (aws.CredentialsProvider, error) {
	if cr == nil || cr.AccessKeyId == nil || cr.SecretAccessKey == nil {
		return nil, apperr.Wrap(errors.New("STS answered without credentials"), apperr.AWSUnavailable, "STS answered without credentials; try again")
	}
	return credentials.NewStaticCredentialsProvider(*cr.AccessKeyId, *cr.SecretAccessKey, aws.ToString(cr.SessionToken)), nil
}

func clampDuration(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func validMFACode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// sessionName is "spotter-<tokenID>" reduced to what STS accepts
// ([\w+=,.@-], 2–64 characters), so CloudTrail shows which token acted.
func sessionName(tokenID string) string {
	var b strings.Builder
	b.WriteString("spotter-")
	for _, r := range tokenID {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Static wraps credentials that need no STS call (tests, or a caller that
// already holds a session) as a provider for LaunchSpec and the tasks.
func Static(creds Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
}

var _ fmt.GoStringer = Credentials{}
