package spot

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

// A maxPrice past MaxPriceOnDemandFactor × the dearest asked type's
// on-demand price, or not a finite positive number, never reaches CreateFleet.
func TestLaunchRefusesAbsurdMaxPrice(t *testing.T) {
	e := mustEnv(t)
	m5, ok1 := e.sim.OnDemandPrice(region, "m5.large")
	c5, ok2 := e.sim.OnDemandPrice(region, "c5.large")
	if !ok1 || !ok2 {
		t.Fatal("awssim has no on-demand price for m5.large or c5.large")
	}
	limit := max(m5, c5) * MaxPriceOnDemandFactor
	tests := map[string]struct {
		price  float64
		refuse bool
	}{
		"at the limit":    {price: limit},
		"just past it":    {price: limit + 1e-6, refuse: true},
		"1e308":           {price: 1e308, refuse: true},
		"infinite":        {price: math.Inf(1), refuse: true},
		"not a number":    {price: math.NaN(), refuse: true},
		"negative":        {price: -0.1, refuse: true},
		"none (no cap)":   {price: 0},
		"below on-demand": {price: min(m5, c5) / 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.callCount("CreateFleet")
			s := e.spec("tokP", name, 1)
			s.MaxPrice, s.DryRun = tt.price, true
			_, err := e.client.Launch(context.Background(), s)
			if !tt.refuse {
				if err != nil {
					t.Fatalf("Launch(maxPrice %v) = %v; want it accepted", tt.price, err)
				}
				return
			}
			wantCode(t, err, apperr.Invalid)
			if d := apperr.Details(err); !strings.HasPrefix(d, "maxPrice") {
				t.Errorf("details %q; want them to name maxPrice", d)
			}
			if n := e.callCount("CreateFleet") - before; n != 0 {
				t.Errorf("CreateFleet called %d times for maxPrice %v", n, tt.price)
			}
		})
	}
}

// With no on-demand price known, only the policy's hard ceiling holds here.
func TestMaxPriceUnknownOnDemand(t *testing.T) {
	e := mustEnv(t)
	e.client.cfg.OnDemandPrices = nil
	if err := e.client.checkMaxPrice(region, []string{"m5.large"}, 999); err != nil {
		t.Fatalf("checkMaxPrice with unknown on-demand price = %v; want nil", err)
	}
	if err := e.client.checkMaxPrice(region, []string{"m5.large"}, math.Inf(1)); apperr.Code(err) != apperr.Invalid {
		t.Fatalf("checkMaxPrice(+Inf) = %v; want invalid_request", err)
	}
}
