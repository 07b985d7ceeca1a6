package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// RFC 6238 appendix B's SHA-1 secret, "12345678901234567890", in base32.
const rfc6238Secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestTOTPNow(t *testing.T) {
	tests := []struct {
		name     string
		secret   string
		at       int64
		wantCode string
		wantLeft int
		wantErr  string
	}{
		// RFC 6238 appendix B gives 8 digits; a 6-digit code is their last six.
		{name: "RFC 6238 T=59", secret: rfc6238Secret, at: 59, wantCode: "287082", wantLeft: 1},
		{name: "RFC 6238 T=1111111109", secret: rfc6238Secret, at: 1111111109, wantCode: "081804", wantLeft: 1},
		{name: "RFC 6238 T=1234567890", secret: rfc6238Secret, at: 1234567890, wantCode: "005924", wantLeft: 30},
		{name: "lower case in groups, as apps show it", secret: "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", at: 59, wantCode: "287082", wantLeft: 1},
		{name: "otpauth URL with 8 digits", secret: "otpauth://totp/spotter:demo?secret=" + rfc6238Secret + "&digits=8&issuer=spotter", at: 59, wantCode: "94287082", wantLeft: 1},
		{name: "otpauth URL, defaults", secret: "otpauth://totp/spotter:demo?secret=" + rfc6238Secret, at: 1234567890, wantCode: "005924", wantLeft: 30},
		{name: "not base32", secret: "NOT-BASE32-SECRET!", at: 59, wantErr: "not base32"},
		{name: "an HOTP URL", secret: "otpauth://hotp/x?secret=" + rfc6238Secret + "&counter=1", at: 59, wantErr: "not a TOTP enrolment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, left, err := totpNow(tt.secret, time.Unix(tt.at, 0))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "BASE32-SECRET") {
					t.Fatalf("totpNow(%q) = %v; want an error saying %q, without the secret", tt.secret, err, tt.wantErr)
				}
				return
			}
			if err != nil || code != tt.wantCode || left != tt.wantLeft {
				t.Errorf("totpNow(%q, %d) = %q, %d, %v; want %q, %d", tt.secret, tt.at, code, left, err, tt.wantCode, tt.wantLeft)
			}
		})
	}
}

// TestTOTPCommand: the code alone on stdout, as the server will check it.
func TestTOTPCommand(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "flag", args: []string{"totp", "--secret", rfc6238Secret}},
		{name: "environment", env: map[string]string{cliEnvTOTPSecret: rfc6238Secret}, args: []string{"totp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			r := mustCLI(t, tt.env, "", tt.args...)
			after := time.Now()
			got := strings.TrimSuffix(r.stdout, "\n")
			var want []string
			for _, at := range []time.Time{before, after} {
				c, err := totp.GenerateCode(rfc6238Secret, at)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, c)
			}
			if got != want[0] && got != want[1] {
				t.Errorf("spotter totp printed %q; want %q", r.stdout, want[0])
			}
			if !totp.Validate(got, rfc6238Secret) {
				t.Errorf("the code %q does not validate now", got)
			}
			if !strings.Contains(r.stderr, "valid for") {
				t.Errorf("stderr %q does not say how long the code lasts", r.stderr)
			}
		})
	}
}
