package token

import (
	"context"
	"crypto/ed25519"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// clock is an injectable, settable time source.
// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock(t time.Time) *clock { return testclock.New(t) }

// countingKeys counts PublicKeys calls, to prove the cache and its rate limit.
type countingKeys struct {
	KeySource
	loads atomic.Int64
	fail  atomic.Bool
}

func (k *countingKeys) PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	k.loads.Add(1)
	if k.fail.Load() {
		return nil, apperr.New(apperr.Unavailable, "store down")
	}
	return k.KeySource.PublicKeys(ctx)
}

// MustLocalKeys returns a fresh keyring.
func MustLocalKeys(tb testing.TB) *LocalKeys {
	tb.Helper()
	k, err := NewLocalKeys()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustAuthority returns an Authority over keys with issuer "https://spotter.test".
func MustAuthority(tb testing.TB, keys KeySource, now func() time.Time) *Authority {
	tb.Helper()
	a, err := NewAuthority(keys, Config{Issuer: "https://spotter.test", Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// wantCode fails unless err carries the apperr code want ("" means nil error).
func wantCode(tb testing.TB, what string, err error, want string) {
	tb.Helper()
	if want == "" {
		if err != nil {
			tb.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("%s: got nil error; want %s", what, want)
	}
	if got := apperr.Code(err); got != want {
		tb.Fatalf("%s: code = %s (%v); want %s", what, got, err, want)
	}
}

// noLeak fails if err's text or details contain any of the secrets (of 6+
// characters: a 6-digit code counts).
func noLeak(tb testing.TB, err error, secrets ...string) {
	tb.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if len(s) < 6 { // too short to be a secret, and too common to test for
			continue
		}
		if strings.Contains(err.Error(), s) || strings.Contains(apperr.Details(err), s) {
			tb.Fatalf("error text %q leaks %q", err.Error(), s)
		}
	}
}
