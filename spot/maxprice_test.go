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
			s.MaxPrice, s.MaxPriceAsked, s.DryRun = tt.price, true, true
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

// With no on-demand price known (a type neither the Price List API nor the
// bundled table prices), only the policy's hard ceiling holds here.
func TestMaxPriceUnknownOnDemand(t *testing.T) {
	e := mustEnv(t)
	od := e.client.odPrices(context.Background(), e.creds, region)
	if err := e.client.checkMaxPrice(od, []string{"m5.large", "x9.unknown"}, 999, true); err != nil {
		t.Fatalf("checkMaxPrice with unknown on-demand price = %v; want nil", err)
	}
	if err := e.client.checkMaxPrice(od, []string{"m5.large"}, math.Inf(1), true); apperr.Code(err) != apperr.Invalid {
		t.Fatalf("checkMaxPrice(+Inf) = %v; want invalid_request", err)
	}
}

// A policy's maxPrice, inherited by a launch that names none, is a ceiling
// over all the policy's types: a cheap type under it is not refused.
func TestMaxPriceInheritedNotHeldToFactor(t *testing.T) {
	e := mustEnv(t)
	od := e.client.odPrices(context.Background(), e.creds, region)
	t3, _ := e.sim.OnDemandPrice(region, "t3.micro")
	price := t3*MaxPriceOnDemandFactor + 0.01
	if err := e.client.checkMaxPrice(od, []string{"t3.micro"}, price, false); err != nil {
		t.Errorf("inherited maxPrice %v refused: %v", price, err)
	}
	if err := e.client.checkMaxPrice(od, []string{"t3.micro"}, price, true); apperr.Code(err) != apperr.Invalid {
		t.Errorf("asked maxPrice %v = %v; want invalid_request", price, err)
	}
	if err := e.client.checkMaxPrice(od, []string{"t3.micro"}, math.NaN(), false); apperr.Code(err) != apperr.Invalid {
		t.Errorf("inherited NaN = %v; want invalid_request", err)
	}
}
