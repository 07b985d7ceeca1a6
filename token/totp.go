package token

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/apperr"
)

// TOTP parameters are fixed to what authenticator apps expect; the library's
// defaults are not relied on (a zero Digits makes every code fail).
const (
	totpPeriod    = 30
	totpDigits    = otp.DigitsSix
	totpAlgorithm = otp.AlgorithmSHA1
	// totpSkew is how many steps either side of now are accepted (≈90 s).
	totpSkew = 1
	// qrSize is the QR PNG's width and height in pixels: large enough to scan
	// from a screen, small enough for a JSON reply.
	qrSize = 256
	// maxCASRetries bounds the check-and-set loop; each retry means another
	// replica accepted a code for this token meanwhile.
	maxCASRetries = 5
)

// Enroll makes a new TOTP secret for account and returns it base32-encoded,
// as an otpauth:// URL, and as a QR code PNG. All three are secrets: return
// them once, store only the secret, sealed.
func Enroll(issuer, account string) (secret, otpauthURL string, qrPNG []byte, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      totpPeriod,
		SecretSize:  20, // 160 bits, RFC 4226's recommendation
		Digits:      totpDigits,
		Algorithm:   totpAlgorithm,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("enroll totp for %s: %w", account, err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return "", "", nil, fmt.Errorf("enroll totp for %s: qr code: %w", account, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", nil, fmt.Errorf("enroll totp for %s: encode png: %w", account, err)
	}
	return key.Secret(), key.URL(), buf.Bytes(), nil
}

// StepStore keeps the last accepted TOTP time step per token, under
// check-and-set. An adapter over secrets.Store keeps it at "totp/<id>":
// version 0 is secrets.CreateOnly, and secrets.ErrConflict matches
// ErrConflict.
type StepStore interface {
	// LastStep returns the last accepted step and the record version, or
	// (0, 0, nil) when the token never had a code accepted.
	LastStep(ctx context.Context, tokenID string) (step int64, version int, err error)
	// SaveStep stores step if the record is still at version (0: create
	// only); otherwise it returns an error matching ErrConflict.
	SaveStep(ctx context.Context, tokenID string, step int64, version int) error
}

// TOTPChecker accepts each TOTP code at most once per token, across every
// replica sharing the StepStore (RFC 6238 §5.2). It is safe for concurrent use.
type TOTPChecker struct {
	steps StepStore
	now   func() time.Time
}

// NewTOTPChecker returns a checker over steps; now is time.Now when nil.
func NewTOTPChecker(steps StepStore, now func() time.Time) *TOTPChecker {
	if now == nil {
		now = time.Now
	}
	return &TOTPChecker{steps: steps, now: now}
}

// Check accepts code for tokenID if it is the code of the step before, at,
// or after now, and that step is later than the last one accepted.
//
// Errors: apperr.MFARequired for an empty code; apperr.MFAInvalid for a code
// that is not six digits or does not match; apperr.MFAReplayed for a code
// (or an earlier one) already accepted; otherwise a wrapped store error.
func (c *TOTPChecker) Check(ctx context.Context, tokenID, secret, code string) error {
	code, err := NormaliseCode(code)
	if err != nil {
		return err
	}
	step, err := matchStep(secret, code, c.now())
	if err != nil {
		return err
	}
	for range maxCASRetries {
		last, version, err := c.steps.LastStep(ctx, tokenID)
		if err != nil {
			return fmt.Errorf("read totp step for token %s: %w", tokenID, err)
		}
		if step <= last {
			return apperr.New(apperr.MFAReplayed, "this code was already used; wait for the next one")
		}
		err = c.steps.SaveStep(ctx, tokenID, step, version)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("save totp step for token %s: %w", tokenID, err)
		}
		// Another replica accepted a code meanwhile: re-read and re-check.
	}
	return apperr.New(apperr.Conflict, "too many concurrent MFA attempts for this token; retry")
}

// NormaliseCode accepts what a person types or an app shows ("123456",
// " 123 456 ") and returns exactly six ASCII digits. Replay safety does not
// depend on it — the guard is keyed on the time step, not the string — but
// a strict shape keeps odd input away from the library, and lets callers
// refuse a missing or malformed code before it counts as a try.
func NormaliseCode(code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return "", apperr.New(apperr.MFARequired, "this token requires the current code of its authenticator app: send it as mfaCode (the CLI: --mfa-code; Slack, SMS, e-mail: add \"code\" and the six digits to the command)")
	}
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 || !isDigits(code, 6) {
		return "", apperr.New(apperr.MFAInvalid, "the MFA code must be 6 digits")
	}
	return code, nil
}

// matchStep returns the step in [now−skew, now+skew] whose code equals code,
// the earliest one if several do. totp.ValidateCustom cannot say which step
// matched, so the steps are generated here and all compared, in constant time.
func matchStep(secret, code string, now time.Time) (int64, error) {
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: totpAlgorithm}
	cur := now.Unix() / totpPeriod
	found := int64(-1)
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), opts)
		if err != nil {
			// A bad stored secret is our fault, not the caller's; the
			// library's error does not quote the secret.
			return 0, fmt.Errorf("generate totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found < 0 {
			found = step
		}
	}
	if found < 0 {
		return 0, apperr.New(apperr.MFAInvalid, "the MFA code is wrong or out of date")
	}
	return found, nil
}
