package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// tokWithKID forges a capability token whose header names kid, signed by a
// key no source holds: enough to make Verify look kid up.
func tokWithKID(tb testing.TB, kid string) string {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return forge(tb, map[string]any{"alg": "EdDSA", "typ": Capability.typ(), "kid": kid},
		map[string]any{"iss": "https://spotter.test", "aud": Capability.audience(), "sub": "tok-1", "jti": "j", "iat": t0.Unix()}, priv)
}

// A key source that is down from the start: every unknown kid is a store
// question, so the cache must not ask it more than once per interval, and
// must answer with the store's error (a 5xx the operator sees), never with
// "unknown key" (a 401 that blames the caller).
func TestKeyCacheDuringOutageFromStart(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := &countingKeys{KeySource: MustLocalKeys(t)}
	keys.fail.Store(true)
	a := MustAuthority(t, keys, clk.Now) // KeyRefreshInterval 5 s

	_, err := a.Verify(ctx, Capability, tokWithKID(t, "kid-1"))
	wantCode(t, "first Verify during outage", err, apperr.Unavailable)
	if n := keys.loads.Load(); n != 1 {
		t.Fatalf("first unknown kid: %d loads; want 1", n)
	}

	// Within the interval, 40 callers with 40 different kids: no further
	// load, and each still hears about the outage.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Verify(ctx, Capability, tokWithKID(t, "kid-x"+strings.Repeat("y", i)))
			if got := apperr.Code(err); got != apperr.Unavailable {
				t.Errorf("Verify within the interval during outage: code %s (%v); want %s", got, err, apperr.Unavailable)
			}
		}()
	}
	wg.Wait()
	clk.Add(5*time.Second - time.Nanosecond)
	_, err = a.Verify(ctx, Capability, tokWithKID(t, "kid-2"))
	wantCode(t, "Verify just inside the interval", err, apperr.Unavailable)
	if n := keys.loads.Load(); n != 1 {
		t.Fatalf("unknown kids within the interval of a failed load: %d loads; want 1", n)
	}

	// At the interval the cache asks again.
	clk.Add(time.Nanosecond)
	_, err = a.Verify(ctx, Capability, tokWithKID(t, "kid-3"))
	wantCode(t, "Verify at the interval", err, apperr.Unavailable)
	if n := keys.loads.Load(); n != 2 {
		t.Fatalf("after the interval: %d loads; want 2", n)
	}

	// The source comes back: after the next interval a real token verifies,
	// and an unknown kid is a bad token again.
	keys.fail.Store(false)
	clk.Add(5 * time.Second)
	tok, _, err := MustAuthority(t, keys.KeySource, clk.Now).Issue(ctx, Capability, "tok-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, Capability, tok); err != nil {
		t.Fatalf("Verify after the outage: %v", err)
	}
	_, err = a.Verify(ctx, Capability, tokWithKID(t, "kid-4"))
	wantCode(t, "unknown kid after the outage", err, apperr.TokenInvalid)
	if n := keys.loads.Load(); n != 3 {
		t.Fatalf("after recovery: %d loads; want 3", n)
	}
}

// The same after the keys were loaded once: a failed refresh is remembered
// for the interval as the store's error, and known kids keep verifying.
func TestKeyCacheDuringOutageAfterLoad(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := &countingKeys{KeySource: MustLocalKeys(t)}
	a := MustAuthority(t, keys, clk.Now)
	tok, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := keys.loads.Load(); n != 1 {
		t.Fatalf("Issue: %d loads; want 1", n)
	}
	keys.fail.Store(true)
	clk.Add(5 * time.Second)
	_, err = a.Verify(ctx, Capability, tokWithKID(t, "kid-1"))
	wantCode(t, "unknown kid, refresh fails", err, apperr.Unavailable)
	_, err = a.Verify(ctx, Capability, tokWithKID(t, "kid-2"))
	wantCode(t, "unknown kid within the interval of the failure", err, apperr.Unavailable)
	if n := keys.loads.Load(); n != 2 {
		t.Fatalf("%d loads; want 2 (one refresh per interval)", n)
	}
	if _, err := a.Verify(ctx, Capability, tok); err != nil {
		t.Fatalf("known kid during the outage: %v", err)
	}
	// An explicit refresh reports the outage too.
	if err := a.RefreshKeys(ctx); apperr.Code(err) != apperr.Unavailable {
		t.Fatalf("RefreshKeys during outage = %v; want %s", err, apperr.Unavailable)
	}
}

// Once loaded, unknown kids are answered from the cache for the interval,
// exactly up to its end.
func TestKeyCacheIntervalEdge(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := &countingKeys{KeySource: MustLocalKeys(t)}
	a, err := NewAuthority(keys, Config{Issuer: "https://spotter.test", Now: clk.Now, KeyRefreshInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		advance   time.Duration
		wantLoads int64
	}{
		{0, 1},                             // first unknown kid loads
		{time.Minute - time.Nanosecond, 1}, // still inside the interval
		{time.Nanosecond, 2},               // exactly at the interval: reload
		{time.Second, 2},
	} {
		clk.Add(step.advance)
		_, err := a.Verify(ctx, Capability, tokWithKID(t, "unknown"))
		wantCode(t, "Verify unknown kid", err, apperr.TokenInvalid)
		if n := keys.loads.Load(); n != step.wantLoads {
			t.Fatalf("step %d: %d loads; want %d", i, n, step.wantLoads)
		}
	}
}

// A kid is looked up only if it is 1-64 characters of [A-Za-z0-9._-]: CR,
// LF and the rest never reach the cache, the store or a log line.
func TestValidKID(t *testing.T) {
	tests := []struct {
		kid  string
		want bool
	}{
		{kid: "abcdefghijklmnopqrstuvwxyz", want: true},
		{kid: "ABCDEFGHIJKLMNOPQRSTUVWXYZ", want: true},
		{kid: "0123456789", want: true},
		{kid: "a.b_c-d", want: true},
		{kid: "x", want: true},
		{kid: strings.Repeat("k", maxKIDLen), want: true},
		{kid: strings.Repeat("k", maxKIDLen+1)},
		{kid: ""},
		{kid: "ab\r\nc"},
		{kid: "ab\n"},
		{kid: "\rab"},
		{kid: "a b"},
		{kid: "a/b"}, {kid: "a:b"}, // either side of the digits
		{kid: "a@b"}, {kid: "a[b"}, // either side of the upper-case letters
		{kid: "a`b"}, {kid: "a{b"}, // either side of the lower-case letters
		{kid: "a,b"}, {kid: "a+b"}, {kid: "a\x00b"}, {kid: "a\x7fb"},
		{kid: "ké"},
		{kid: "../../sys/raw"},
	}
	for _, tt := range tests {
		if got := validKID(tt.kid); got != tt.want {
			t.Errorf("validKID(%q) = %v; want %v", tt.kid, got, tt.want)
		}
	}
}

// A hostile kid is refused before any key lookup: no store read, and an
// error that carries neither the kid nor a line break.
func TestVerifyHostileKIDMakesNoLookup(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	for _, kid := range []string{"ok\r\nX-Injected: 1", "kid\n", "a b", strings.Repeat("k", maxKIDLen+1), "\u2028kid"} {
		keys := &countingKeys{KeySource: MustLocalKeys(t)}
		a := MustAuthority(t, keys, clk.Now)
		_, err := a.Verify(ctx, Capability, tokWithKID(t, kid))
		wantCode(t, "Verify hostile kid", err, apperr.TokenInvalid)
		if n := keys.loads.Load(); n != 0 {
			t.Errorf("kid %q: %d key loads; want none", kid, n)
		}
		if strings.ContainsAny(err.Error(), "\r\n") || strings.Contains(err.Error(), kid) {
			t.Errorf("kid %q: error %q carries it", kid, err)
		}
	}
	// The longest valid kid is looked up (and, unknown, refused).
	keys := &countingKeys{KeySource: MustLocalKeys(t)}
	a := MustAuthority(t, keys, clk.Now)
	_, err := a.Verify(ctx, Capability, tokWithKID(t, strings.Repeat("k", maxKIDLen)))
	wantCode(t, "Verify 64-character kid", err, apperr.TokenInvalid)
	if n := keys.loads.Load(); n != 1 {
		t.Errorf("64-character kid: %d loads; want 1", n)
	}
}

// A source that hands out a malformed kid or a key of the wrong size: the
// cache drops it (a short key would make ed25519.Verify panic), and Issue
// refuses to sign with a kid it could not put in a header.
func TestKeyCacheDropsBadKeys(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	good := MustLocalKeys(t)
	kid, _ := good.SigningKeyID(ctx)
	pubs, _ := good.PublicKeys(ctx)
	src := &fixedKeys{LocalKeys: good, pubs: map[string]ed25519.PublicKey{
		kid:         pubs[kid],
		"short-key": pubs[kid][:16],
		"bad\nkid":  pubs[kid],
	}}
	c := newKeyCache(src, clk.Now, time.Second)
	if err := c.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.lookup(kid); !ok {
		t.Errorf("good key dropped")
	}
	for _, bad := range []string{"short-key", "bad\nkid"} {
		if _, ok := c.lookup(bad); ok {
			t.Errorf("key %q kept", bad)
		}
	}

	src.signKID = "bad\nkid"
	if _, _, err := MustAuthority(t, src, clk.Now).Issue(ctx, Capability, "tok-1", 0); err == nil || apperr.Code(err) != apperr.Internal {
		t.Fatalf("Issue with a malformed signing kid = %v; want an internal error", err)
	}
}

// fixedKeys serves a fixed public key set and, when set, a fixed signing kid.
type fixedKeys struct {
	*LocalKeys
	pubs    map[string]ed25519.PublicKey
	signKID string
}

func (f *fixedKeys) PublicKeys(context.Context) (map[string]ed25519.PublicKey, error) {
	return f.pubs, nil
}

func (f *fixedKeys) SigningKeyID(ctx context.Context) (string, error) {
	if f.signKID != "" {
		return f.signKID, nil
	}
	return f.LocalKeys.SigningKeyID(ctx)
}
