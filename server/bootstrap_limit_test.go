package server

import (
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// TestBootstrapRateLimitAcrossReplicas: two servers (replicas) on one
// store, each with its own bootstrap service, on both stores, share the
// hand-off's budget: Burst well-formed guesses spread over both reach the
// store (401), the next is 429 with Retry-After on either, and a second
// later exactly one more gets through.
func TestBootstrapRateLimitAcrossReplicas(t *testing.T) {
	for kind, open := range poolBackends() {
		t.Run(kind, func(t *testing.T) {
			ps := newPoolServer(t, open, handlers.DemandLimit{})
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			var replicas []*echo.Echo
			for range 2 {
				boot, err := bootstrap.New(bootstrap.Config{Store: ps.st, Pools: ps.deps.Pools, Instances: noInstances{},
					PublicURL: "https://spotter.test", Rate: 1, Burst: 3, Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				d := ps.deps
				d.Bootstrap = boot
				replicas = append(replicas, New(d, Options{}))
			}
			guess := func(r, i int) reply {
				ps.e = replicas[r]
				// Well-formed (base32), so each reaches the limit; unknown.
				body := `{"credential": "spb_` + strings.Repeat("c", 51) + string(rune('a'+i)) + `", "instanceId": "i-0123456789abcdef0"}`
				return ps.call(t, "POST", "/v1/instances/bootstrap", body, "")
			}
			for i, r := range []int{0, 1, 1} {
				if got := guess(r, i); got.status != 401 {
					t.Fatalf("guess %d of the burst, on replica %d = %d %s; want 401", i+1, r, got.status, got.raw)
				}
			}
			for r := range replicas {
				got := guess(r, 9+r)
				if got.status != 429 || got.body["error"] != apperr.RateLimited || got.header.Get("Retry-After") != "1" {
					t.Fatalf("guess past the burst on replica %d = %d %s, Retry-After %q; want 429 rate_limited, 1", r, got.status, got.raw, got.header.Get("Retry-After"))
				}
			}
			clk.Add(time.Second)
			if got := guess(1, 20); got.status != 401 {
				t.Fatalf("a second later = %d %s; want 401", got.status, got.raw)
			}
			if got := guess(0, 21); got.status != 429 {
				t.Fatalf("the one after = %d %s; want 429", got.status, got.raw)
			}
		})
	}
}
