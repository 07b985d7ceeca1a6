package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// Buildkite webhooks authenticate one of two ways, chosen per webhook in
// Buildkite's settings ("Webhooks" docs, _http_headers_token_or_signature):
// X-Buildkite-Token carries the webhook token in clear, or
// X-Buildkite-Signature carries "timestamp=<unix>,signature=<hex>", an
// HMAC-SHA256 keyed with the token. The docs disagree on what is signed (the
// prose says the raw body; the reference verifier and the replay section sign
// "<timestamp>.<body>"); the verifier's form is the one that defends against
// replay, so it is the one checked here.

// BuildkiteSignatureHeader and BuildkiteTokenHeader are the two headers.
const (
	BuildkiteSignatureHeader = "X-Buildkite-Signature"
	BuildkiteTokenHeader     = "X-Buildkite-Token"
)

// VerifyBuildkiteSignature checks an X-Buildkite-Signature value over the
// raw body. The timestamp is Buildkite's dispatch time and may be at most
// window from now either way (0 means DefaultWindow, the docs' example 5
// min). The nonce lets the caller refuse a replay inside the window.
func VerifyBuildkiteSignature(secret []byte, header string, body []byte, now time.Time, window time.Duration) (Nonce, error) {
	if len(secret) == 0 {
		return Nonce{}, errEmptySecret
	}
	if window <= 0 {
		window = DefaultWindow
	}
	ts, got, ok := parseBuildkiteSignature(header)
	if !ok {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "X-Buildkite-Signature must be timestamp=<unix seconds>,signature=<hex HMAC-SHA256>")
	}
	if !hmac.Equal(hmacSum(sha256.New, secret, ts, ".", string(body)), got) {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "X-Buildkite-Signature does not match the body; check the webhook's signing token")
	}
	signed, err := checkWindow(ts, now, window, "X-Buildkite-Signature timestamp")
	if err != nil {
		return Nonce{}, err
	}
	return newNonce("buildkite", ts, got, signed.Add(window)), nil
}

// parseBuildkiteSignature splits "timestamp=…,signature=…" (either order,
// each exactly once, nothing else) with bounded work on hostile input.
func parseBuildkiteSignature(header string) (ts string, mac []byte, ok bool) {
	if len(header) > maxSigHeaderLen {
		return "", nil, false
	}
	parts := strings.Split(header, ",")
	if len(parts) != 2 {
		return "", nil, false
	}
	var sig string
	for _, p := range parts {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		switch {
		case !found:
			return "", nil, false
		case k == "timestamp" && ts == "":
			ts = v
		case k == "signature" && sig == "":
			sig = v
		default:
			return "", nil, false
		}
	}
	mac, err := hex.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size || !isDigits(ts, 12) {
		return "", nil, false
	}
	return ts, mac, true
}

// VerifyBuildkiteToken checks the X-Buildkite-Token mode: the header is the
// webhook token itself, compared in constant time. It signs nothing, so the
// caller must dedupe deliveries on the payload (job id and event).
func VerifyBuildkiteToken(secret []byte, header string) error {
	if len(secret) == 0 {
		return errEmptySecret
	}
	// Compare MACs of both sides so the time taken does not depend on
	// where, or whether, the lengths differ.
	key := []byte("spotter buildkite token compare")
	if header == "" || !hmac.Equal(hmacSum(sha256.New, key, string(secret)), hmacSum(sha256.New, key, header)) {
		return apperr.New(apperr.SignatureInvalid, "X-Buildkite-Token does not match the webhook token")
	}
	return nil
}
