package reaper_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

// TestPassSeesOtherReplicas: the reaper keeps the token records it read
// between passes, and still, on its very next pass, ends the instance of a
// token another replica revoked, reaps the instances of a token another
// replica created (its usage told, its expired instance ended), and does
// so for a token whose revocation moved no change stamp (written as a
// replica of an older release would). On both stores.
func TestPassSeesOtherReplicas(t *testing.T) {
	type store interface {
		secrets.Store
		secrets.KeyRing
	}
	stores := map[string]func(t *testing.T) store{
		"embedded": func(t *testing.T) store {
			s, _ := storetest.Embedded(t, slog.New(slog.DiscardHandler))
			return s
		},
		"vault": func(t *testing.T) store { return storetest.Vault(t, "reaper", slog.New(slog.DiscardHandler)) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			start := time.Now().UTC()
			now := start
			clock := func() time.Time { return now }
			sim := awssim.New(awssim.Options{Seed: 5, Now: clock})
			srv := httptest.NewServer(sim)
			defer srv.Close()
			sp, err := spot.New(spot.Config{EC2Endpoint: srv.URL, STSEndpoint: srv.URL, PricingEndpoint: srv.URL,
				DefaultRegion: "us-east-1", Now: clock, TemplateGrace: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			st := open(t)
			replica := func() *capability.Registry {
				auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clock})
				if err != nil {
					t.Fatal(err)
				}
				reg, err := capability.New(capability.Config{Store: st, Authority: auth, Now: clock, CacheTTL: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				return reg
			}
			reaping, other := replica(), replica()
			launch := func(name string, ttl time.Duration) (api.CreatedToken, string) {
				t.Helper()
				return launchOne(t, ctx, other, sp, name, ttl)
			}
			usage := map[string]spot.Usage{}
			forgot := map[string]bool{}
			r := &reaper.Reaper{Tokens: reaping, Spot: sp, Interval: time.Minute, Log: log, Now: clock,
				Usage: func(id string, u spot.Usage) { usage[id] = u }, Forget: func(id string) { forgot[id] = true }}
			pass := func() []string {
				t.Helper()
				acts, err := r.Pass(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return terminated(acts)
			}

			revoked, revokedInst := launch("revoked", 3*time.Hour)
			quiet, quietInst := launch("quiet", 3*time.Hour)
			if got := pass(); len(got) != 0 {
				t.Fatalf("first pass ended %v; want nothing", got)
			}

			// Between two passes another replica revokes one token and
			// creates another, whose instance runs for an hour.
			if _, err := other.Revoke(ctx, revoked.ID); err != nil {
				t.Fatal(err)
			}
			fresh, freshInst := launch("fresh", time.Hour)
			now = now.Add(time.Minute)
			if got := pass(); !slices.Equal(got, []string{revokedInst}) {
				t.Fatalf("next pass ended %v; want the revoked token's %s", got, revokedInst)
			}
			if !forgot[revoked.ID] || usage[fresh.ID].Running != 1 {
				t.Fatalf("next pass: revoked forgotten %t, new token's usage %+v; want forgotten and 1 running", forgot[revoked.ID], usage[fresh.ID])
			}
			now = start.Add(61 * time.Minute)
			if got := pass(); !slices.Equal(got, []string{freshInst}) {
				t.Fatalf("pass past the new token's TTL ended %v; want %s", got, freshInst)
			}

			// A revocation written with no change stamp: the next pass
			// still ends the token's instance (Revoked reads it fresh).
			rec, err := st.Get(ctx, capability.StoreKey(quiet.ID))
			if err != nil {
				t.Fatal(err)
			}
			rec.Public = append([]byte(`{"revokedAt":"`+now.Format(time.RFC3339)+`",`), rec.Public[1:]...)
			if _, err := st.Put(ctx, capability.StoreKey(quiet.ID), rec, rec.Version); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Minute)
			if got := pass(); !slices.Equal(got, []string{quietInst}) {
				t.Fatalf("pass after a revocation with no stamp ended %v; want %s", got, quietInst)
			}
		})
	}
}
