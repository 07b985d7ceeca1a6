package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// WrongTOTPCodes returns n six-digit codes none of which the TOTP secret
// accepts from a minute ago to a minute ahead.
func WrongTOTPCodes(tb testing.TB, secret string, n int) []string {
	tb.Helper()
	valid := map[string]bool{}
	for d := -60; d <= 60; d += 30 {
		c, err := totp.GenerateCodeCustom(secret, time.Now().Add(time.Duration(d)*time.Second), totpOpts)
		if err != nil {
			tb.Fatal(err)
		}
		valid[c] = true
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		if c := fmt.Sprintf("%06d", (i*104729+7)%1000000); !valid[c] {
			out = append(out, c)
		}
	}
	return out
}

// TOTPCode is the secret's code now.
func TOTPCode(tb testing.TB, secret string) string {
	tb.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now(), totpOpts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
