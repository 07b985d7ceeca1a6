package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// SignatureHeader carries spotter's own body signature:
// "t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>[,v1=…]".
const SignatureHeader = "X-Spotter-Signature"

// DefaultWindow is how far a signed timestamp may be from now, either way.
const DefaultWindow = 300 * time.Second

// Bounds on the header, so parsing hostile input costs little.
const (
	maxSigHeaderLen = 1024
	maxSigParts     = 8
)

// errEmptySecret is a configuration fault, never a client's: it is not an
// apperr, so the server answers 500 rather than letting the request pass.
var errEmptySecret = errors.New("verify signature: empty secret")

// Nonce identifies one accepted signature. The caller records it with
// ReplayGuard until Until, when the signature would be refused as stale
// anyway, so a replay inside the window is refused too.
type Nonce struct {
	ID    string // hex SHA-256; carries nothing secret
	Until time.Time
}

// Sign returns the X-Spotter-Signature value for body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(bodyMAC(secret, ts, body))
}

func bodyMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyBody checks an X-Spotter-Signature header against the raw body. Any
// v1 may match any of secrets (several of each while a secret rolls over).
// The timestamp may be at most window from now, past or future; window 0
// means DefaultWindow.
//
// Errors: apperr.SignatureInvalid for a missing or malformed header or no
// matching v1; apperr.SignatureExpired only when a v1 matched but the
// timestamp is outside the window; a plain (internal) error when secrets is
// empty or holds an empty secret.
func VerifyBody(header string, body []byte, secrets [][]byte, now time.Time, window time.Duration) (Nonce, error) {
	if err := checkSecrets(secrets); err != nil {
		return Nonce{}, err
	}
	if window <= 0 {
		window = DefaultWindow
	}
	ts, sigs, ok := parseSigHeader(header)
	if !ok {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "%s must be t=<unix seconds>,v1=<hex HMAC-SHA256>", SignatureHeader)
	}
	unix, _ := strconv.ParseInt(ts, 10, 64) // digits only, at most 12: cannot fail
	var matched []byte
	// Every secret against every v1, without stopping early, so timing does
	// not tell which secret or which v1 matched.
	for _, secret := range secrets {
		want := bodyMAC(secret, ts, body)
		for _, got := range sigs {
			if hmac.Equal(want, got) && matched == nil {
				matched = got
			}
		}
	}
	if matched == nil {
		return Nonce{}, apperr.New(apperr.SignatureInvalid, "no v1 signature matches the body")
	}
	signed := time.Unix(unix, 0)
	if d := now.Sub(signed); d > window || d < -window {
		return Nonce{}, apperr.New(apperr.SignatureExpired, "signature timestamp is more than %s from the server's clock", window)
	}
	return newNonce("spotter", ts, matched, signed.Add(window)), nil
}

func checkSecrets(secrets [][]byte) error {
	if len(secrets) == 0 {
		return errEmptySecret
	}
	for _, s := range secrets {
		if len(s) == 0 {
			return errEmptySecret
		}
	}
	return nil
}

// parseSigHeader splits "t=…,v1=…[,v1=…]". Unknown schemes (v0, future v2)
// are skipped, as Stripe does, so a sender can add one without breaking us.
func parseSigHeader(h string) (ts string, sigs [][]byte, ok bool) {
	if h == "" || len(h) > maxSigHeaderLen {
		return "", nil, false
	}
	parts := strings.Split(h, ",")
	if len(parts) > maxSigParts {
		return "", nil, false
	}
	for _, p := range parts {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found {
			return "", nil, false
		}
		switch k {
		case "t":
			if ts != "" || !isDigits(v, 12) {
				return "", nil, false
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, false
			}
			sigs = append(sigs, b)
		}
	}
	return ts, sigs, ts != "" && len(sigs) > 0
}

// isDigits reports whether s is 1..max ASCII digits (no sign, no spaces).
func isDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// newNonce derives a nonce id from the scheme and the authenticated parts of
// a request, so the same signature sent twice (with extra v1s, other hex
// case, other order) maps to the same id.
func newNonce(scheme, ts string, mac []byte, until time.Time) Nonce {
	h := sha256.New()
	h.Write([]byte(scheme))
	h.Write([]byte{0})
	h.Write([]byte(ts))
	h.Write([]byte{0})
	h.Write(mac)
	return Nonce{ID: hex.EncodeToString(h.Sum(nil)), Until: until}
}

// ErrConflict is what a MarkerStore or StepStore returns when a create-only
// or check-and-set write lost. It matches any *apperr.Error with code
// apperr.Conflict, so secrets.ErrConflict satisfies errors.Is(err, ErrConflict)
// and an adapter over secrets.Store can pass the store's error through.
var ErrConflict = &apperr.Error{Code: apperr.Conflict}

// MarkerStore records that a key was seen. An adapter over secrets.Store:
// Put("nonces/"+key, Record{Public: expires}, secrets.CreateOnly). A marker
// may be deleted after expires; keeping it longer is harmless.
type MarkerStore interface {
	// CreateMarker stores key if it is absent and returns ErrConflict (or
	// any error matching it) if it is already there.
	CreateMarker(ctx context.Context, key string, expires time.Time) error
}

// ReplayGuard refuses a nonce seen before. It holds across replicas exactly
// as far as the store's create-only write does.
type ReplayGuard struct {
	Store MarkerStore
}

// Check records n and returns nil the first time; apperr.SignatureReplay if
// n was recorded before; a wrapped store error otherwise (fail closed).
func (g ReplayGuard) Check(ctx context.Context, n Nonce) error {
	if n.ID == "" {
		return errors.New("replay guard: empty nonce")
	}
	err := g.Store.CreateMarker(ctx, n.ID, n.Until)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		return apperr.New(apperr.SignatureReplay, "this signed request was already accepted")
	default:
		return fmt.Errorf("record signature nonce: %w", err)
	}
}
