package token

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// Vectors: "published" ones are the providers' own worked examples (the
// documents providers.go names); "derived" ones follow the documented scheme
// and check with openssl dgst -sha256 -hmac, independently of this code.
const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTS     = "1531420618"
	slackBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestVerifySlack(t *testing.T) {
	at := time.Unix(1531420618, 0)
	tests := []struct {
		name, secret, ts, sig, body string
		now                         time.Time
		want                        string
	}{
		{name: "published vector", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody, now: at},
		{name: "300 s late", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody, now: at.Add(300 * time.Second)},
		{name: "stale", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody, now: at.Add(301 * time.Second), want: apperr.SignatureExpired},
		{name: "300 s early", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody, now: at.Add(-300 * time.Second)},
		{name: "future", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody, now: at.Add(-301 * time.Second), want: apperr.SignatureExpired},
		{name: "body changed", secret: slackSecret, ts: slackTS, sig: slackSig, body: slackBody + "x", now: at, want: apperr.SignatureInvalid},
		{name: "timestamp changed", secret: slackSecret, ts: "1531420619", sig: slackSig, body: slackBody, now: at, want: apperr.SignatureInvalid},
		{name: "wrong secret", secret: "nope", ts: slackTS, sig: slackSig, body: slackBody, now: at, want: apperr.SignatureInvalid},
		{name: "no v0 prefix", secret: slackSecret, ts: slackTS, sig: slackSig[3:], body: slackBody, now: at, want: apperr.SignatureInvalid},
		{name: "bad timestamp", secret: slackSecret, ts: "+1531420618", sig: slackSig, body: slackBody, now: at, want: apperr.SignatureInvalid},
		{name: "empty secret", secret: "", ts: slackTS, sig: slackSig, body: slackBody, now: at, want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := VerifySlack([]byte(tt.secret), tt.ts, tt.sig, []byte(tt.body), tt.now)
			wantCode(t, "VerifySlack", err, tt.want)
			noLeak(t, err, slackSecret, slackSig[3:])
			if err == nil && n.ID == "" {
				t.Fatal("empty nonce")
			}
		})
	}
}

func TestVerifyGitHub(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	tests := []struct {
		name, secret, sig, body, want string
	}{
		{name: "published vector", secret: secret, sig: sig, body: "Hello, World!"},
		{name: "body changed", secret: secret, sig: sig, body: "Hello, World?", want: apperr.SignatureInvalid},
		{name: "sha1 prefix", secret: secret, sig: "sha1=" + sig[7:], body: "Hello, World!", want: apperr.SignatureInvalid},
		{name: "truncated", secret: secret, sig: sig[:40], body: "Hello, World!", want: apperr.SignatureInvalid},
		{name: "empty secret", sig: sig, body: "Hello, World!", want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyGitHub([]byte(tt.secret), tt.sig, []byte(tt.body))
			wantCode(t, "VerifyGitHub", err, tt.want)
			noLeak(t, err, secret, sig[7:])
		})
	}
}

func TestVerifyMailgun(t *testing.T) {
	const key = "test-webhook-signing-key"
	const tok = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
	const sig = "f1ead6a385623d00f3dc29cf7f7666b577e0cb0969d614cf32026799105ea3eb"
	at := time.Unix(1700000000, 0)
	tests := []struct {
		name, key, ts, token, sig string
		now                       time.Time
		want                      string
	}{
		{name: "derived vector", key: key, ts: "1700000000", token: tok, sig: sig, now: at},
		{name: "window late", key: key, ts: "1700000000", token: tok, sig: sig, now: at.Add(2 * time.Minute)},
		{name: "window early", key: key, ts: "1700000000", token: tok, sig: sig, now: at.Add(-2 * time.Minute)},
		{name: "stale", key: key, ts: "1700000000", token: tok, sig: sig, now: at.Add(2*time.Minute + time.Second), want: apperr.SignatureExpired},
		{name: "future", key: key, ts: "1700000000", token: tok, sig: sig, now: at.Add(-2*time.Minute - time.Second), want: apperr.SignatureExpired},
		{name: "token changed", key: key, ts: "1700000000", token: tok + "x", sig: sig, now: at, want: apperr.SignatureInvalid},
		{name: "timestamp changed", key: key, ts: "1700000001", token: tok, sig: sig, now: at, want: apperr.SignatureInvalid},
		{name: "no token", key: key, ts: "1700000000", sig: sig, now: at, want: apperr.SignatureInvalid},
		{name: "empty key", ts: "1700000000", token: tok, sig: sig, now: at, want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := VerifyMailgun([]byte(tt.key), tt.ts, tt.token, tt.sig, tt.now, 2*time.Minute)
			wantCode(t, "VerifyMailgun", err, tt.want)
			noLeak(t, err, key, sig, tok)
			if err == nil && !n.Until.Equal(at.Add(2*time.Minute)) {
				t.Fatalf("nonce until %v", n.Until)
			}
		})
	}
}

func TestVerifyTwilio(t *testing.T) {
	const authToken = "12345"
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
	}
	repeated := url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234", "1234"}}
	tests := []struct {
		name, token, url, sig string
		params                url.Values
		want                  string
	}{
		{name: "published vector", token: authToken, url: u, params: params, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{name: "signed with :443, called without", token: authToken, url: u, params: params, sig: "kvajT1Ptam85bY51eRf/AJRuM3w="},
		{name: "signed without port, called with :443", token: authToken, url: "https://mycompany.com:443/myapp.php?foo=1&bar=2", params: params, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{name: "repeated keys", token: authToken, url: u, params: repeated, sig: "IK+Dwps556ElfBT0I3Rgjkr1wJU="},
		{name: "param changed", token: authToken, url: u, params: url.Values{"Digits": {"9999"}}, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", want: apperr.SignatureInvalid},
		{name: "query changed", token: authToken, url: "https://mycompany.com/myapp.php?foo=1&bar=3", params: params, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", want: apperr.SignatureInvalid},
		{name: "other port", token: authToken, url: "https://mycompany.com:8443/myapp.php?foo=1&bar=2", params: params, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", want: apperr.SignatureInvalid},
		{name: "not base64", token: authToken, url: u, params: params, sig: "!!!", want: apperr.SignatureInvalid},
		{name: "empty token", url: u, params: params, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", want: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyTwilio([]byte(tt.token), tt.url, tt.params, tt.sig)
			wantCode(t, "VerifyTwilio", err, tt.want)
			noLeak(t, err, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
		})
	}
}

func TestVerifyTwilioJSON(t *testing.T) {
	const authToken = "12345"
	const body = `{"property": "value", "boolean": true}`
	const hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=" + hash
	const sig = "a9nBmqA0ju/hNViExpshrM61xv4="
	tests := []struct {
		name, url, body, sig, want string
	}{
		{name: "published vector", url: u, body: body, sig: sig},
		{name: "body changed", url: u, body: body + " ", sig: sig, want: apperr.SignatureInvalid},
		{name: "hash removed from URL", url: strings.TrimSuffix(u, "&bodySHA256="+hash), body: body, sig: sig, want: apperr.SignatureInvalid},
		{name: "wrong signature", url: u, body: body, sig: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", want: apperr.SignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyTwilioJSON([]byte(authToken), tt.url, []byte(tt.body), tt.sig)
			wantCode(t, "VerifyTwilioJSON", err, tt.want)
			noLeak(t, err, sig, hash)
		})
	}
}
