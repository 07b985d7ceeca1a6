package capability

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

var (
	accessKeyRe = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	roleARNRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	mfaSerialRe = regexp.MustCompile(`^(arn:aws[a-z-]*:iam::\d{12}:mfa/[\w+=,.@/-]{1,512}|[A-Z0-9]{9,256})$`)
	externalRe  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	idRe        = regexp.MustCompile(`^tok_[a-z2-7]{20}$`)
)

// MaxExpiresIn bounds how long a capability may live.
const MaxExpiresIn = 366 * 24 * time.Hour

func bad(field, format string, args ...any) error {
	return apperr.New(apperr.Invalid, field+": "+format, args...)
}

func validName(n string) error {
	if n == "" || utf8.RuneCountInString(n) > 64 || strings.ContainsAny(n, "\x00\r\n\t") {
		return bad("name", "give the token a name of 1-64 characters on one line")
	}
	return nil
}

// validCredentials checks shape only: whether AWS accepts them shows at first use.
func validCredentials(c *api.CredentialsInput) error {
	if c == nil {
		return bad("credentials", "give accessKeyId+secretAccessKey, or roleArn (with optional externalId)")
	}
	keys := c.AccessKeyID != "" || c.SecretAccessKey != ""
	if !keys && c.RoleARN == "" {
		return bad("credentials", "give accessKeyId+secretAccessKey, or roleArn (with optional externalId)")
	}
	if keys {
		if !accessKeyRe.MatchString(c.AccessKeyID) {
			return bad("credentials.accessKeyId", "is not an AWS access key id (16-128 upper-case letters and digits)")
		}
		// Never describe the secret beyond its length class: it may be a real key typed into the wrong field.
		if n := len(c.SecretAccessKey); n < 16 || n > 128 || strings.ContainsAny(c.SecretAccessKey, " \t\r\n") {
			return bad("credentials.secretAccessKey", "must be 16-128 characters without spaces")
		}
	}
	if c.RoleARN != "" && !roleARNRe.MatchString(c.RoleARN) {
		return bad("credentials.roleArn", "is not an IAM role ARN like arn:aws:iam::123456789012:role/spotter")
	}
	if c.ExternalID != "" {
		if c.RoleARN == "" {
			return bad("credentials.externalId", "only goes with roleArn")
		}
		if len(c.ExternalID) < 2 || len(c.ExternalID) > 1224 || !externalRe.MatchString(c.ExternalID) {
			return bad("credentials.externalId", "must be 2-1224 characters of letters, digits and +=,.@:/-")
		}
	}
	return nil
}

func validMFA(m *api.MFAInput) error {
	if m == nil {
		return nil
	}
	if m.SerialNumber != "" && m.TOTP {
		return bad("mfa", "choose serialNumber (AWS MFA) or totp (checked by spotter), not both")
	}
	if m.SerialNumber != "" && !mfaSerialRe.MatchString(m.SerialNumber) {
		return bad("mfa.serialNumber", "is not an MFA device ARN like arn:aws:iam::123456789012:mfa/alice")
	}
	return nil
}

func parseExpiresIn(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad("expiresIn", "%q is not a duration such as \"10m\" or \"720h\"", s)
	}
	if d < time.Minute || d > MaxExpiresIn {
		return 0, bad("expiresIn", "must be between 1m and %s", MaxExpiresIn)
	}
	return d, nil
}

// ValidID reports whether id has the shape of a token id, so that ids taken
// from paths are checked before they reach the store.
func ValidID(id string) bool { return idRe.MatchString(id) }
