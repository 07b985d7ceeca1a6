package token

import (
	"context"
	"crypto/sha256"
	"strconv"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// TestVerifiedCacheAnswersAsVerify proves a token verified once (and so
// cached) is refused again whenever a full verification would refuse it.
func TestVerifiedCacheAnswersAsVerify(t *testing.T) {
	tests := []struct {
		name string
		// after runs once the token has verified; it returns the kind and
		// token to verify next.
		after    func(t *testing.T, a *Authority, keys *LocalKeys, clk *clock, tok string) (Kind, string)
		wantCode string
	}{
		{
			name:  "again, unchanged",
			after: func(*testing.T, *Authority, *LocalKeys, *clock, string) (Kind, string) { return Capability, "" },
		},
		{
			name: "past its expiry",
			after: func(_ *testing.T, _ *Authority, _ *LocalKeys, clk *clock, _ string) (Kind, string) {
				clk.Add(time.Hour + time.Minute)
				return Capability, ""
			},
			wantCode: apperr.TokenExpired,
		},
		{
			name:     "as the other kind",
			after:    func(*testing.T, *Authority, *LocalKeys, *clock, string) (Kind, string) { return Admin, "" },
			wantCode: apperr.TokenInvalid,
		},
		{
			name: "one signature byte changed",
			after: func(_ *testing.T, _ *Authority, _ *LocalKeys, _ *clock, tok string) (Kind, string) {
				last := tok[len(tok)-2]
				c := byte('A')
				if last == 'A' {
					c = 'B'
				}
				return Capability, tok[:len(tok)-2] + string(c) + tok[len(tok)-1:]
			},
			wantCode: apperr.TokenInvalid,
		},
		{
			name: "its key removed",
			after: func(t *testing.T, a *Authority, keys *LocalKeys, _ *clock, _ string) (Kind, string) {
				old, _ := keys.SigningKeyID(context.Background())
				if _, err := keys.Rotate(); err != nil {
					t.Fatal(err)
				}
				if err := keys.Remove(old); err != nil {
					t.Fatal(err)
				}
				if err := a.RefreshKeys(context.Background()); err != nil {
					t.Fatal(err)
				}
				return Capability, ""
			},
			wantCode: apperr.TokenInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(t0)
			keys := MustLocalKeys(t)
			a := MustAuthority(t, keys, clk.Now)
			tok, _, err := a.Issue(ctx, Capability, "tok-1", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Verify(ctx, Capability, tok); err != nil {
				t.Fatalf("first Verify = %v", err)
			}
			kind, next := tt.after(t, a, keys, clk, tok)
			if next == "" {
				next = tok
			}
			c, err := a.Verify(ctx, kind, next)
			wantCode(t, "second Verify", err, tt.wantCode)
			if err == nil && (c.ID != "tok-1" || c.Kind != Capability) {
				t.Errorf("claims = %+v; want tok-1, capability", c)
			}
		})
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	var v verifiedCache
	for i := range maxVerified + 10 {
		v.put(sha256.Sum256([]byte(strconv.Itoa(i))), verifiedEntry{kid: "k"})
	}
	if n := len(v.entries); n != maxVerified {
		t.Fatalf("%d entries; want the bound, %d", n, maxVerified)
	}
}
