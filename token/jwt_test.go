package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spotter-dev/spotter/apperr"
)

var t0 = time.Unix(1700000000, 0)

// forge builds a compact JWT from raw header and claims, signed by priv with
// EdDSA (or unsigned when priv is nil).
func forge(tb testing.TB, hdr, claims map[string]any, priv ed25519.PrivateKey) string {
	tb.Helper()
	hb, err := json.Marshal(hdr)
	if err != nil {
		tb.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding
	s := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	var sig []byte
	if priv != nil {
		sig = ed25519.Sign(priv, []byte(s))
	}
	return s + "." + enc.EncodeToString(sig)
}

func TestIssueVerify(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	a := MustAuthority(t, MustLocalKeys(t), clk.Now)

	tests := []struct {
		name string
		kind Kind
		ttl  time.Duration
	}{
		{name: "capability with exp", kind: Capability, ttl: 10 * time.Minute},
		{name: "capability without exp", kind: Capability},
		{name: "admin", kind: Admin, ttl: time.Hour},
		{name: "pool", kind: Pool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, issued, err := a.Issue(ctx, tt.kind, "tok-1", tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok) > 600 {
				t.Errorf("token is %d bytes; want a short URL-friendly token", len(tok))
			}
			// A standard parser with the same rules accepts it: the hand-built
			// signing string is a real JWT.
			p := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(clk.Now))
			pub, _ := a.keys.PublicKeys(ctx)
			if _, err := p.Parse(tok, func(tk *jwt.Token) (any, error) { return pub[tk.Header["kid"].(string)], nil }); err != nil {
				t.Fatalf("golang-jwt Parse: %v", err)
			}
			got, err := a.Verify(ctx, tt.kind, tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !got.IssuedAt.Equal(issued.IssuedAt) || !got.ExpiresAt.Equal(issued.ExpiresAt) ||
				got.ID != issued.ID || got.JTI != issued.JTI || got.Kind != issued.Kind {
				t.Fatalf("Verify = %+v; want %+v", got, issued)
			}
			if tt.ttl == 0 && !got.ExpiresAt.IsZero() {
				t.Fatalf("ExpiresAt = %v; want zero", got.ExpiresAt)
			}
		})
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	a := MustAuthority(t, MustLocalKeys(t), time.Now)
	for _, tc := range []struct {
		name string
		kind Kind
		id   string
		ttl  time.Duration
	}{
		{"no kind", 0, "x", 0}, {"no id", Capability, "", 0}, {"negative ttl", Admin, "x", -time.Second},
	} {
		_, _, err := a.Issue(context.Background(), tc.kind, tc.id, tc.ttl)
		wantCode(t, tc.name, err, apperr.Invalid)
	}
}

func TestVerifyHostile(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := MustLocalKeys(t)
	a := MustAuthority(t, keys, clk.Now)
	kid, _ := keys.SigningKeyID(ctx)
	priv := keys.keys[kid]
	pub := priv.Public().(ed25519.PublicKey)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)

	capTok, _, err := a.Issue(ctx, Capability, "tok-1", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	adminTok, _, err := a.Issue(ctx, Admin, "admin-1", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	poolTok, _, err := a.Issue(ctx, Pool, "linux-ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"alg": "EdDSA", "kid": kid, "typ": Capability.typ()}
		if mod != nil {
			mod(h)
		}
		return h
	}
	cl := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "https://spotter.test", "aud": Capability.audience(), "sub": "tok-1",
			"jti": "j1", "iat": t0.Unix(), "exp": t0.Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	hs256WithPublicKey := func() string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(cl(nil)))
		tk.Header["kid"], tk.Header["typ"] = kid, Capability.typ()
		s, err := tk.SignedString([]byte(pub))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	tampered := func() string {
		parts := strings.Split(capTok, ".")
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://spotter.test","aud":"spotter:capability","sub":"tok-2","jti":"j","iat":1700000000}`))
		return strings.Join(parts, ".")
	}()

	tests := []struct {
		name    string
		kind    Kind
		tok     string
		advance time.Duration
		want    string
	}{
		{name: "OK control", kind: Capability, tok: forge(t, hdr(nil), cl(nil), priv)},
		{name: "alg none", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["alg"] = "none" }), cl(nil), nil), want: apperr.TokenInvalid},
		{name: "alg none with signature", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["alg"] = "none" }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "HS256 keyed with the public key", kind: Capability, tok: hs256WithPublicKey, want: apperr.TokenInvalid},
		{name: "RS256 label", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["alg"] = "RS256" }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "wrong aud", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["aud"] = "someone-else" }), priv), want: apperr.TokenInvalid},
		{name: "missing aud", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { delete(c, "aud") }), priv), want: apperr.TokenInvalid},
		{name: "both audiences", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["aud"] = []string{Capability.audience(), Admin.audience()} }), priv), want: apperr.TokenInvalid},
		{name: "wrong iss", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["iss"] = "https://evil.test" }), priv), want: apperr.TokenInvalid},
		{name: "wrong typ", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["typ"] = "JWT" }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "missing typ", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { delete(h, "typ") }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "crit header", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["crit"] = []string{"exp"} }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "admin token as capability", kind: Capability, tok: adminTok, want: apperr.TokenInvalid},
		{name: "capability token as admin", kind: Admin, tok: capTok, want: apperr.TokenInvalid},
		{name: "pool token as capability", kind: Capability, tok: poolTok, want: apperr.TokenInvalid},
		{name: "pool token as admin", kind: Admin, tok: poolTok, want: apperr.TokenInvalid},
		{name: "capability token as pool", kind: Pool, tok: capTok, want: apperr.TokenInvalid},
		{name: "admin token as pool", kind: Pool, tok: adminTok, want: apperr.TokenInvalid},
		{name: "pool OK control", kind: Pool, tok: forge(t, hdr(func(h map[string]any) { h["typ"] = Pool.typ() }), cl(func(c map[string]any) { c["aud"] = Pool.audience() }), priv)},
		{name: "capability typ with pool aud", kind: Pool, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["aud"] = Pool.audience() }), priv), want: apperr.TokenInvalid},
		{name: "capability typ with admin aud", kind: Admin, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["aud"] = Admin.audience() }), priv), want: apperr.TokenInvalid},
		{name: "tampered claims", kind: Capability, tok: tampered, want: apperr.TokenInvalid},
		{name: "unknown kid", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["kid"] = "0123456789abcdef" }), cl(nil), otherPriv), want: apperr.TokenInvalid},
		{name: "known kid, other key", kind: Capability, tok: forge(t, hdr(nil), cl(nil), otherPriv), want: apperr.TokenInvalid},
		{name: "hostile kid", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["kid"] = "../../sys/raw/x" }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "non-string kid", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["kid"] = 7 }), cl(nil), priv), want: apperr.TokenInvalid},
		{name: "jku ignored, still unknown kid", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["kid"] = "x1"; h["jku"] = "http://169.254.169.254/" }), cl(nil), otherPriv), want: apperr.TokenInvalid},
		{name: "missing sub", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { delete(c, "sub") }), priv), want: apperr.TokenInvalid},
		{name: "missing jti", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { delete(c, "jti") }), priv), want: apperr.TokenInvalid},
		{name: "missing iat", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { delete(c, "iat") }), priv), want: apperr.TokenInvalid},
		{name: "iat far in future", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["iat"] = t0.Add(time.Hour).Unix() }), priv), want: apperr.TokenInvalid},
		{name: "iat within leeway", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["iat"] = t0.Add(20 * time.Second).Unix() }), priv)},
		{name: "nbf in future", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["nbf"] = t0.Add(time.Hour).Unix() }), priv), want: apperr.TokenInvalid},
		{name: "expired", kind: Capability, tok: capTok, advance: 11 * time.Minute, want: apperr.TokenExpired},
		{name: "expired but within leeway", kind: Capability, tok: capTok, advance: 10*time.Minute + 20*time.Second},
		{name: "expired and wrong aud", kind: Capability, tok: forge(t, hdr(nil), cl(func(c map[string]any) { c["aud"] = "x" }), priv), advance: time.Hour, want: apperr.TokenInvalid},
		{name: "expired and bad signature", kind: Capability, tok: forge(t, hdr(nil), cl(nil), otherPriv), advance: time.Hour, want: apperr.TokenInvalid},
		{name: "expired and unknown kid", kind: Capability, tok: forge(t, hdr(func(h map[string]any) { h["kid"] = "k9" }), cl(nil), otherPriv), advance: time.Hour, want: apperr.TokenInvalid},
		{name: "empty", kind: Capability, tok: "", want: apperr.TokenInvalid},
		{name: "one segment", kind: Capability, tok: "abc", want: apperr.TokenInvalid},
		{name: "dots", kind: Capability, tok: strings.Repeat(".", 4000), want: apperr.TokenInvalid},
		{name: "garbage segments", kind: Capability, tok: "a.b.c", want: apperr.TokenInvalid},
		{name: "padded base64", kind: Capability, tok: strings.Replace(capTok, ".", "==.", 1), want: apperr.TokenInvalid},
		{name: "signature stripped", kind: Capability, tok: capTok[:strings.LastIndex(capTok, ".")+1], want: apperr.TokenInvalid},
		{name: "oversized", kind: Capability, tok: capTok + strings.Repeat("A", MaxTokenLen), want: apperr.TokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0.Add(tt.advance))
			v := MustAuthority(t, keys, clk.Now)
			_, err := v.Verify(ctx, tt.kind, tt.tok)
			wantCode(t, "Verify", err, tt.want)
			sig := tt.tok[strings.LastIndex(tt.tok, ".")+1:]
			noLeak(t, err, tt.tok, sig, base64.RawURLEncoding.EncodeToString(pub))
		})
	}
}

func TestVerifyInvalidKind(t *testing.T) {
	a := MustAuthority(t, MustLocalKeys(t), time.Now)
	if _, err := a.Verify(context.Background(), Kind(9), "x.y.z"); err == nil || apperr.Code(err) != apperr.Internal {
		t.Fatalf("Verify(kind 9) = %v; want an internal error", err)
	}
}

func TestKeyCacheRateLimitsUnknownKids(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := &countingKeys{KeySource: MustLocalKeys(t)}
	a := MustAuthority(t, keys, clk.Now)
	tok, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour) // loads once: new kid
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := a.Verify(ctx, Capability, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := keys.loads.Load(); n != 1 {
		t.Fatalf("hot Verify loaded keys %d times; want 1", n)
	}

	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bad := forge(t, map[string]any{"alg": "EdDSA", "typ": Capability.typ(), "kid": "unknown-" + string(rune('a'+i%26))},
				map[string]any{"sub": "x"}, otherPriv)
			_, err := a.Verify(ctx, Capability, bad)
			if apperr.Code(err) != apperr.TokenInvalid {
				t.Errorf("unknown kid: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if n := keys.loads.Load(); n != 1 {
		t.Fatalf("unknown kids within the interval loaded keys %d times; want 1", n)
	}
	clk.Add(6 * time.Second)
	_, _ = a.Verify(ctx, Capability, forge(t, map[string]any{"alg": "EdDSA", "typ": Capability.typ(), "kid": "zz"}, map[string]any{}, otherPriv))
	if n := keys.loads.Load(); n != 2 {
		t.Fatalf("after the interval: %d loads; want 2", n)
	}

	// A store outage surfaces as the store's error, not as a bad token.
	keys.fail.Store(true)
	clk.Add(6 * time.Second)
	_, err = a.Verify(ctx, Capability, forge(t, map[string]any{"alg": "EdDSA", "typ": Capability.typ(), "kid": "yy"}, map[string]any{}, otherPriv))
	wantCode(t, "Verify during outage", err, apperr.Unavailable)
	// Known kids keep verifying from the cache.
	if _, err := a.Verify(ctx, Capability, tok); err != nil {
		t.Fatalf("cached key during outage: %v", err)
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	keys := MustLocalKeys(t)
	a := MustAuthority(t, keys, clk.Now)
	oldTok, _, err := a.Issue(ctx, Capability, "tok-old", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oldKid, _ := keys.SigningKeyID(ctx)
	newKid, err := keys.Rotate()
	if err != nil || newKid == oldKid {
		t.Fatalf("Rotate = %q, %v", newKid, err)
	}
	// Issued right after the rotation, within the refresh interval: must verify.
	newTok, _, err := a.Issue(ctx, Capability, "tok-new", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := a.Verify(ctx, Capability, tok); err != nil {
			t.Fatalf("Verify after rotate: %v", err)
		}
	}

	// The sealed-at-rest form restores the same keyring.
	b, err := keys.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := UnmarshalLocalKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := restored.SigningKeyID(ctx); cur != newKid {
		t.Fatalf("restored current kid = %q; want %q", cur, newKid)
	}
	a2 := MustAuthority(t, restored, clk.Now)
	for _, tok := range []string{oldTok, newTok} {
		if _, err := a2.Verify(ctx, Capability, tok); err != nil {
			t.Fatalf("Verify with restored keys: %v", err)
		}
	}

	if err := keys.Remove(newKid); err == nil {
		t.Fatal("Remove(current) succeeded; want an error")
	}
	if err := keys.Remove(oldKid); err != nil {
		t.Fatal(err)
	}
	if err := a.RefreshKeys(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = a.Verify(ctx, Capability, oldTok)
	wantCode(t, "Verify with removed key", err, apperr.TokenInvalid)
	if got := keys.KeyIDs(); len(got) != 1 || got[0] != newKid {
		t.Fatalf("KeyIDs = %v; want [%s]", got, newKid)
	}
}

func TestUnmarshalLocalKeysRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"not json", "nope"},
		{"version", `{"v":2}`},
		{"short seed", `{"v":1,"current":"x","seeds":["AAAA"]}`},
		{"current missing", `{"v":1,"current":"x","seeds":[]}`},
	} {
		if _, err := UnmarshalLocalKeys([]byte(tc.in)); err == nil {
			t.Errorf("%s: UnmarshalLocalKeys succeeded", tc.name)
		}
	}
}
