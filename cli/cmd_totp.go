package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const cliEnvTOTPSecret = "SPOTTER_TOTP_SECRET"

// runTOTP prints the current code for a TOTP secret: the sandbox's MFA
// demo needs one, and an authenticator app or oathtool is one more thing
// to install.
func runTOTP(_ context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("totp", "totp --secret BASE32 [flags]",
		"Prints the current 6-digit TOTP code (RFC 6238: SHA-1, 30 s) for a base32 secret or an\n"+
			"otpauth:// URL, e.g. the sandbox's MFA device secret. The code goes to stdout alone, so\n"+
			"$(spotter totp …) fits in a command; how long it stays valid goes to stderr.", stderr)
	secret := fs.String("secret", "", "base32 secret or otpauth:// URL (env "+cliEnvTOTPSecret+"; a flag lands in shell history)")
	secretFile := fs.String("secret-file", "", "read the secret from this file")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("totp: unexpected argument %q", pos[0])
	}
	if *secret != "" && *secretFile != "" {
		return usagef("totp: --secret or --secret-file, not both")
	}
	s := strings.TrimSpace(cmp.Or(*secret, getenv(cliEnvTOTPSecret)))
	if *secretFile != "" {
		if s, err = readSecretFile("--secret-file", *secretFile); err != nil {
			return err
		}
	}
	if s == "" {
		return usagef("totp: name the secret: --secret, --secret-file or %s", cliEnvTOTPSecret)
	}
	code, left, err := totpNow(s, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, code)
	fmt.Fprintf(stderr, "spotter: valid for %d s more\n", left)
	return nil
}

// totpNow returns the code for secret at now and the seconds left in its
// step. secret is base32 or an otpauth:// URL, whose period, digits and
// algorithm are then used.
func totpNow(secret string, now time.Time) (code string, secondsLeft int, err error) {
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	if strings.HasPrefix(secret, "otpauth://") {
		key, err := otp.NewKeyFromURL(secret)
		if err != nil || key.Type() != "totp" {
			return "", 0, usagef("totp: the otpauth URL is not a TOTP enrolment")
		}
		secret = key.Secret()
		if p := key.Period(); p > 0 {
			opts.Period = uint(p)
		}
		if d := key.Digits(); d > 0 {
			opts.Digits = d
		}
		opts.Algorithm = key.Algorithm() // SHA1 when the URL names none
	}
	// Authenticator apps show secrets in groups and lower case.
	secret = strings.ToUpper(strings.ReplaceAll(secret, " ", ""))
	code, err = totp.GenerateCodeCustom(secret, now, opts)
	if err != nil {
		// Not err's text alone: it may quote the secret.
		return "", 0, usagef("totp: the secret is not base32 (letters A–Z and digits 2–7)")
	}
	left := int(opts.Period) - int(now.Unix()%int64(opts.Period))
	return code, left, nil
}
