package token

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// Derived vector (Buildkite publishes none): the documented scheme,
// computed independently with
//
//	printf '%s' '1642080837.{"event":"ping"}' | openssl dgst -sha256 -hmac bk-secret-token
const (
	bkSecret = "bk-secret-token"
	bkTS     = "1642080837"
	bkBody   = `{"event":"ping"}`
	bkMAC    = "3f71ae0e42eb61b2fc9c0b0da8047d32979f621ca617c56cf371939b1d119686"
	bkHeader = "timestamp=" + bkTS + ",signature=" + bkMAC
)

func TestVerifyBuildkiteSignature(t *testing.T) {
	at := time.Unix(1642080837, 0)
	tests := []struct {
		name, secret, header, body string
		now                        time.Time
		window                     time.Duration
		want                       string
	}{
		{name: "derived vector", secret: bkSecret, header: bkHeader, body: bkBody, now: at},
		{name: "fields swapped", secret: bkSecret, header: "signature=" + bkMAC + ",timestamp=" + bkTS, body: bkBody, now: at},
		{name: "space after comma", secret: bkSecret, header: "timestamp=" + bkTS + ", signature=" + bkMAC, body: bkBody, now: at},
		{name: "at window late", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(300 * time.Second)},
		{name: "one past window late", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(301 * time.Second), want: apperr.SignatureExpired},
		{name: "at window early", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(-300 * time.Second)},
		{name: "one past window early", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(-301 * time.Second), want: apperr.SignatureExpired},
		{name: "custom window at limit", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(60 * time.Second), window: time.Minute},
		{name: "custom window one past", secret: bkSecret, header: bkHeader, body: bkBody, now: at.Add(61 * time.Second), window: time.Minute, want: apperr.SignatureExpired},
		{name: "body alone signed (the prose reading)", secret: bkSecret, header: "timestamp=" + bkTS + ",signature=" + hexMAC(bkSecret, bkBody), body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "body changed", secret: bkSecret, header: bkHeader, body: bkBody + " ", now: at, want: apperr.SignatureInvalid},
		{name: "timestamp changed", secret: bkSecret, header: "timestamp=1642080838,signature=" + bkMAC, body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "wrong secret", secret: "other-token", header: bkHeader, body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "missing timestamp", secret: bkSecret, header: "signature=" + bkMAC, body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "repeated signature", secret: bkSecret, header: "signature=" + bkMAC + ",signature=" + bkMAC, body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "extra field", secret: bkSecret, header: bkHeader + ",v=1", body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "signed timestamp", secret: bkSecret, header: "timestamp=+" + bkTS + ",signature=" + bkMAC, body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "short mac", secret: bkSecret, header: "timestamp=" + bkTS + ",signature=" + bkMAC[:62], body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "empty header", secret: bkSecret, header: "", body: bkBody, now: at, want: apperr.SignatureInvalid},
		{name: "empty secret", secret: "", header: bkHeader, body: bkBody, now: at, want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := VerifyBuildkiteSignature([]byte(tt.secret), tt.header, []byte(tt.body), tt.now, tt.window)
			wantCode(t, "VerifyBuildkiteSignature", err, tt.want)
			noLeak(t, err, bkSecret, bkMAC)
			if err == nil && n.ID == "" {
				t.Fatal("empty nonce")
			}
		})
	}
}

func TestVerifyBuildkiteSignatureNonceStable(t *testing.T) {
	at := time.Unix(1642080837, 0)
	a, err := VerifyBuildkiteSignature([]byte(bkSecret), bkHeader, []byte(bkBody), at, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := VerifyBuildkiteSignature([]byte(bkSecret), "signature="+bkMAC+",timestamp="+bkTS, []byte(bkBody), at.Add(time.Second), 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatal("the same delivery re-ordered got a different nonce, so a replay would pass")
	}
	if want := at.Add(DefaultWindow); !a.Until.Equal(want) {
		t.Fatalf("Until = %v; want %v", a.Until, want)
	}
}

func TestVerifyBuildkiteToken(t *testing.T) {
	tests := []struct {
		name, secret, header, want string
	}{
		{name: "match", secret: bkSecret, header: bkSecret},
		{name: "prefix", secret: bkSecret, header: bkSecret[:len(bkSecret)-1], want: apperr.SignatureInvalid},
		{name: "longer", secret: bkSecret, header: bkSecret + "x", want: apperr.SignatureInvalid},
		{name: "case", secret: bkSecret, header: "BK-SECRET-TOKEN", want: apperr.SignatureInvalid},
		{name: "missing", secret: bkSecret, header: "", want: apperr.SignatureInvalid},
		{name: "empty secret", secret: "", header: "", want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyBuildkiteToken([]byte(tt.secret), tt.header)
			wantCode(t, "VerifyBuildkiteToken", err, tt.want)
			noLeak(t, err, bkSecret)
		})
	}
}

func hexMAC(secret, msg string) string {
	return hex.EncodeToString(hmacSum(sha256.New, []byte(secret), msg))
}
