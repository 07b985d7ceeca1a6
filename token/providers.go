package token

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// Provider webhook signatures, each as its provider documents it: Slack
// "Verifying requests from Slack", Twilio "Webhooks security", GitHub
// "Validating webhook deliveries", Mailgun "Securing webhooks" (the README's
// Triggers table says which endpoint checks which). Each
// verifies over the raw bytes the provider signed, compares in constant
// time, refuses an empty secret, and returns apperr.SignatureInvalid or
// apperr.SignatureExpired with details that name the header, never a MAC.

func hmacSum(newHash func() hash.Hash, key []byte, parts ...string) []byte {
	m := hmac.New(newHash, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// checkWindow refuses a provider timestamp (unix seconds, digits only) more
// than window from now either way; it is called only after the MAC matched.
func checkWindow(ts string, now time.Time, window time.Duration, what string) (time.Time, error) {
	unix, _ := strconv.ParseInt(ts, 10, 64)
	signed := time.Unix(unix, 0)
	if d := now.Sub(signed); d > window || d < -window {
		return time.Time{}, apperr.New(apperr.SignatureExpired, "%s is more than %s from the server's clock", what, window)
	}
	return signed, nil
}

// VerifySlack checks X-Slack-Signature ("v0=<hex>") over
// "v0:" + X-Slack-Request-Timestamp + ":" + body, within ±300 s. The nonce
// lets the caller refuse a replay inside the window.
func VerifySlack(secret []byte, timestamp, signature string, body []byte, now time.Time) (Nonce, error) {
	if len(secret) == 0 {
		return Nonce{}, errEmptySecret
	}
	hexSig, ok := strings.CutPrefix(signature, "v0=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size || !isDigits(timestamp, 12) {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "X-Slack-Signature or X-Slack-Request-Timestamp is malformed")
	}
	want := hmacSum(sha256.New, secret, "v0:", timestamp, ":", string(body))
	if !hmac.Equal(want, got) {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "X-Slack-Signature does not match the body")
	}
	signed, err := checkWindow(timestamp, now, DefaultWindow, "X-Slack-Request-Timestamp")
	if err != nil {
		return Nonce{}, err
	}
	return newNonce("slack", timestamp, got, signed.Add(DefaultWindow)), nil
}

// VerifyGitHub checks X-Hub-Signature-256 ("sha256=<hex>") over the body.
// GitHub signs no timestamp: dedupe on X-GitHub-Delivery.
func VerifyGitHub(secret []byte, signature string, body []byte) error {
	if len(secret) == 0 {
		return errEmptySecret
	}
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return apperr.New(apperr.SignatureInvalid, "X-Hub-Signature-256 is malformed")
	}
	if !hmac.Equal(hmacSum(sha256.New, secret, string(body)), got) {
		return apperr.New(apperr.SignatureInvalid, "X-Hub-Signature-256 does not match the body")
	}
	return nil
}

// VerifyMailgun checks a Mailgun signature: hex HMAC-SHA256 over timestamp +
// token, with the timestamp at most window from now (Rails uses 2 min). The
// nonce is derived from Mailgun's one-time token: record it to stop replays.
func VerifyMailgun(key []byte, timestamp, token, signature string, now time.Time, window time.Duration) (Nonce, error) {
	if len(key) == 0 {
		return Nonce{}, errEmptySecret
	}
	got, err := hex.DecodeString(signature)
	if err != nil || len(got) != sha256.Size || !isDigits(timestamp, 12) || token == "" || len(token) > 256 {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "Mailgun signature fields are malformed")
	}
	if !hmac.Equal(hmacSum(sha256.New, key, timestamp, token), got) {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "Mailgun signature does not match")
	}
	signed, err := checkWindow(timestamp, now, window, "Mailgun timestamp")
	if err != nil {
		return Nonce{}, err
	}
	return newNonce("mailgun", token, nil, signed.Add(window)), nil
}

// VerifyTwilio checks X-Twilio-Signature on a form POST:
// base64(HMAC-SHA1(authToken, fullURL + each param name+value, sorted by
// name)). params are the form fields of the raw body only (the query is
// already in fullURL); parse them from the bytes the caller read once.
// fullURL must be the URL Twilio called, rebuilt from the configured
// public base URL, never from request headers. A repeated name contributes
// its distinct values in sorted order (twilio-php's vector). Like the
// official SDKs, it also tries the URL with the default port added or
// removed. Twilio signs no timestamp: dedupe on MessageSid.
func VerifyTwilio(authToken []byte, fullURL string, params url.Values, signature string) error {
	if len(authToken) == 0 {
		return errEmptySecret
	}
	var b strings.Builder
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for i, v := range vals {
			if i > 0 && v == vals[i-1] {
				continue
			}
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return twilioCheck(authToken, fullURL, b.String(), signature)
}

// VerifyTwilioJSON checks a JSON-body request: the signature covers the URL
// alone, and the URL's bodySHA256 query parameter must be the hex SHA-256 of
// the body.
func VerifyTwilioJSON(authToken []byte, fullURL string, body []byte, signature string) error {
	if len(authToken) == 0 {
		return errEmptySecret
	}
	u, err := url.Parse(fullURL)
	if err != nil {
		return apperr.New(apperr.SignatureInvalid, "request URL is malformed")
	}
	if err := twilioCheck(authToken, fullURL, "", signature); err != nil {
		return err
	}
	got, err := hex.DecodeString(u.Query().Get("bodySHA256"))
	sum := sha256.Sum256(body)
	if err != nil || !hmac.Equal(sum[:], got) {
		return apperr.New(apperr.SignatureInvalid, "bodySHA256 does not match the body")
	}
	return nil
}

func twilioCheck(authToken []byte, fullURL, params, signature string) error {
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha1.Size {
		return apperr.New(apperr.SignatureInvalid, "X-Twilio-Signature is malformed")
	}
	match := false
	for _, u := range twilioURLVariants(fullURL) {
		if hmac.Equal(hmacSum(sha1.New, authToken, u, params), got) {
			match = true
		}
	}
	if !match {
		return apperr.New(apperr.SignatureInvalid, "X-Twilio-Signature does not match the request")
	}
	return nil
}

// twilioURLVariants returns raw, plus raw with its scheme's default port
// added or removed: Twilio's SDKs try both "since sig generation on back-end
// is inconsistent". Only the host part is rewritten, so the path and query
// stay byte for byte as given.
func twilioURLVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{raw}
	}
	prefix := u.Scheme + "://"
	rest, ok := strings.CutPrefix(raw, prefix)
	if !ok {
		return []string{raw}
	}
	if u.User != nil {
		return []string{raw}
	}
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host, tail := rest[:hostEnd], rest[hostEnd:]
	switch {
	case u.Port() == def:
		return []string{raw, prefix + strings.TrimSuffix(host, ":"+def) + tail}
	case u.Port() == "":
		return []string{raw, prefix + host + ":" + def + tail}
	}
	return []string{raw}
}
