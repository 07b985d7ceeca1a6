package spot

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// TestPriceCap is the price cap phase alone: a fleet cap that pays for
// one instance in the cheapest pool passes, exactly at its price too; one
// that does not is refused as the policy rule it comes from, or as too
// low a price, unless on-demand may make up for spot.
func TestPriceCap(t *testing.T) {
	cheapest := Pool{Type: "t3.micro", AZ: "us-east-1a", Price: money.FromDollars(0.0104)}
	tests := []struct {
		name     string
		cap      float64
		rule     string
		fallback bool
		wantCode string // "" = passes
	}{
		{name: "no cap", cap: 0},
		{name: "well over the cheapest", cap: 1},
		{name: "at the cheapest", cap: 0.0104},
		{name: "under the cheapest", cap: 0.0103, wantCode: apperr.PriceTooLow},
		{name: "under the cheapest, from a rule", cap: 0.0103, rule: "maxHourlySpend", wantCode: apperr.PolicyDenied},
		{name: "under the cheapest, with fallback", cap: 0.0103, fallback: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &launch{pools: []Pool{cheapest}}
			l.spec.MaxTotalPrice, l.spec.MaxTotalPriceRule, l.spec.OnDemandFallback = tt.cap, tt.rule, tt.fallback
			err := l.priceCap()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("priceCap(%v) = %v; want nil", tt.cap, err)
				}
				return
			}
			if apperr.Code(err) != tt.wantCode {
				t.Fatalf("priceCap(%v) = %v; want %s", tt.cap, err, tt.wantCode)
			}
			if d := apperr.Details(err); !strings.Contains(d, "t3.micro/us-east-1a at $0.0104/h") || tt.rule != "" && !strings.Contains(d, "rule "+tt.rule) {
				t.Errorf("details %q; want the cheapest pool named (and the rule %q)", d, tt.rule)
			}
		})
	}
}
