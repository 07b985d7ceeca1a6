package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/apperr"
)

// The bounds of the X-Spotter-Signature header, at and one past each.
func TestSigHeaderLimits(t *testing.T) {
	secret := []byte("test-signing-secret")
	body := []byte(`{"task":"status"}`)
	ts := time.Unix(1700000000, 0)
	good := Sign(secret, ts, body)
	// pad grows good with an unknown scheme to exactly n bytes.
	pad := func(n int) string {
		h := good + ",v0="
		return h + strings.Repeat("x", n-len(h))
	}
	parts := func(n int) string { return good + strings.Repeat(",v0=x", n-2) }
	// withTS signs with t written as given (leading zeros are signed too).
	withTS := func(t string) string { return "t=" + t + ",v1=" + hex.EncodeToString(bodyMAC(secret, t, body)) }
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{name: "header of maxSigHeaderLen", header: pad(maxSigHeaderLen)},
		{name: "header past maxSigHeaderLen", header: pad(maxSigHeaderLen + 1), want: apperr.SignatureInvalid},
		{name: "maxSigParts parts", header: parts(maxSigParts)},
		{name: "past maxSigParts", header: parts(maxSigParts + 1), want: apperr.SignatureInvalid},
		{name: "t of 12 digits", header: withTS("001700000000")},
		{name: "t of 13 digits", header: withTS("0001700000000"), want: apperr.SignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyBody(tt.header, body, [][]byte{secret}, ts, DefaultWindow)
			wantCode(t, "VerifyBody", err, tt.want)
		})
	}
}

// A header that is not t=…,v1=… is described as such, not as a MAC that
// does not match: the sender's fix differs.
func TestSigHeaderShapeDetails(t *testing.T) {
	secret := []byte("test-signing-secret")
	v1 := "v1=" + strings.Repeat("ab", 32)
	for _, h := range []string{"t=1700000000", "t=1700000000,v0=ab", v1, "t=17000000a0," + v1, "t=," + v1, "t=+1700000000," + v1} {
		_, err := VerifyBody(h, []byte("b"), [][]byte{secret}, time.Unix(1700000000, 0), 0)
		if apperr.Code(err) != apperr.SignatureInvalid || !strings.Contains(apperr.Details(err), "must be t=") {
			t.Errorf("VerifyBody(%q) = %v; want signature_invalid describing the header's shape", h, err)
		}
	}
}

// window 0 (or less) means the default 300 s; any other window is used as given.
func TestVerifyBodyWindowArgument(t *testing.T) {
	secret := []byte("test-signing-secret")
	ts := time.Unix(1700000000, 0)
	h := Sign(secret, ts, []byte("b"))
	tests := []struct {
		name   string
		window time.Duration
		late   time.Duration
		want   string
	}{
		{name: "zero window is the default, at its end", window: 0, late: DefaultWindow},
		{name: "zero window is the default, past it", window: 0, late: DefaultWindow + time.Second, want: apperr.SignatureExpired},
		{name: "negative window is the default", window: -time.Second, late: DefaultWindow},
		{name: "own window, at its end", window: 10 * time.Second, late: 10 * time.Second},
		{name: "own window, past it", window: 10 * time.Second, late: 11 * time.Second, want: apperr.SignatureExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyBody(h, []byte("b"), [][]byte{secret}, ts.Add(tt.late), tt.window)
			wantCode(t, "VerifyBody", err, tt.want)
		})
	}
}

func TestIsDigits(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want bool
	}{
		{"0", 1, true}, {"9", 1, true}, {"0123456789", 10, true}, {"123456789012", 12, true},
		{"1234567890123", 12, false}, {"", 12, false}, {"12a", 12, false}, {"/", 1, false}, {":", 1, false},
		{"-1", 12, false}, {" 1", 12, false}, {"١", 12, false},
	}
	for _, tt := range tests {
		if got := isDigits(tt.s, tt.max); got != tt.want {
			t.Errorf("isDigits(%q, %d) = %v; want %v", tt.s, tt.max, got, tt.want)
		}
	}
}

// Mailgun's one-time token is bounded: 256 bytes pass, 257 are malformed.
func TestVerifyMailgunTokenLength(t *testing.T) {
	key := []byte("test-webhook-signing-key")
	at := time.Unix(1700000000, 0)
	for _, tt := range []struct {
		n    int
		want string
	}{{256, ""}, {257, apperr.SignatureInvalid}} {
		tok := strings.Repeat("t", tt.n)
		sig := hex.EncodeToString(hmacSum(sha256.New, key, "1700000000", tok))
		_, err := VerifyMailgun(key, "1700000000", tok, sig, at, 2*time.Minute)
		wantCode(t, "VerifyMailgun", err, tt.want)
	}
}

// A token of exactly MaxTokenLen bytes is parsed; one byte more is refused
// unread.
func TestVerifyTokenLengthLimit(t *testing.T) {
	ctx := context.Background()
	keys := MustLocalKeys(t)
	kid, _ := keys.SigningKeyID(ctx)
	a := MustAuthority(t, keys, newClock(t0).Now)
	sized := func(n int) string {
		// Raw base64 cannot end a segment on every length: pad both.
		for hpad := range 4 {
			for pad := range MaxTokenLen {
				tok := forge(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": Capability.typ(), "x": strings.Repeat("h", hpad)},
					map[string]any{"iss": "https://spotter.test", "aud": Capability.audience(), "sub": "tok-1", "jti": "j",
						"iat": t0.Unix(), "pad": strings.Repeat("p", pad)}, keys.keys[kid])
				if len(tok) == n {
					return tok
				}
				if len(tok) > n {
					break
				}
			}
		}
		t.Fatalf("no padding gives a %d-byte token", n)
		return ""
	}
	if _, err := a.Verify(ctx, Capability, sized(MaxTokenLen)); err != nil {
		t.Fatalf("Verify(%d-byte token) = %v; want accepted", MaxTokenLen, err)
	}
	_, err := a.Verify(ctx, Capability, sized(MaxTokenLen+1))
	wantCode(t, "Verify(oversized token)", err, apperr.TokenInvalid)
}

// The cause of a refusal stays in the error chain for the log: a bad
// signature is logged as one, not as a generic "not valid".
func TestVerifyKeepsTheCause(t *testing.T) {
	ctx := context.Background()
	keys := MustLocalKeys(t)
	kid, _ := keys.SigningKeyID(ctx)
	a := MustAuthority(t, keys, newClock(t0).Now)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	tok := forge(t, map[string]any{"alg": "EdDSA", "kid": kid, "typ": Capability.typ()},
		map[string]any{"iss": "https://spotter.test", "aud": Capability.audience(), "sub": "tok-1", "jti": "j", "iat": t0.Unix()}, other)
	_, err := a.Verify(ctx, Capability, tok)
	wantCode(t, "Verify(bad signature)", err, apperr.TokenInvalid)
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("Verify(bad signature) = %v; want the signature error in its chain", err)
	}
}

// matchStep names the step whose code matched, the earliest of the window.
func TestMatchStepEarliest(t *testing.T) {
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	now := time.Unix(45, 0) // step 1: the window is steps 0, 1, 2
	for step := int64(0); step <= 2; step++ {
		code, err := totp.GenerateCodeCustom(rfcSecret, time.Unix(step*totpPeriod, 0), opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := matchStep(rfcSecret, code, now)
		if err != nil || got != step {
			t.Errorf("matchStep(code of step %d) = %d, %v; want %d", step, got, err, step)
		}
	}
}
