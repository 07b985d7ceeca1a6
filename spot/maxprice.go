package spot

import (
	"math"

	"github.com/spotter-dev/spotter/apperr"
)

// MaxPriceOnDemandFactor bounds a launch's maxPrice by what its types cost
// on demand. EC2 never charges a spot instance more than the on-demand
// price, and the on-demand fallback needs a cap of about that price, so a
// cap past ten times the dearest asked type's on-demand price is a slip of
// the decimal point (30 for 0.30), not a bid.
const MaxPriceOnDemandFactor = 10

// checkMaxPrice refuses a maxPrice that is not a finite positive number, or,
// when the caller asked for it, that is over MaxPriceOnDemandFactor × the
// on-demand price of the dearest of types in the region. When any type's
// on-demand price is unknown only the policy's hard ceiling
// (policy.MaxPriceCeiling, checked before MFA) holds.
func (c *Client) checkMaxPrice(od *odPrices, types []string, maxPrice float64, asked bool) error {
	if maxPrice == 0 {
		return nil
	}
	if math.IsNaN(maxPrice) || math.IsInf(maxPrice, 0) || maxPrice < 0 {
		return apperr.New(apperr.Invalid, "maxPrice: must be a finite price above 0 dollars per instance-hour")
	}
	if !asked {
		return nil
	}
	region := od.region
	od.prefetch(types)
	dearest, which := 0.0, ""
	for _, t := range types {
		p, ok := od.price(t)
		if !ok || p <= 0 {
			return nil
		}
		if p > dearest {
			dearest, which = p, t
		}
	}
	if which == "" || maxPrice <= dearest*MaxPriceOnDemandFactor {
		return nil
	}
	return apperr.New(apperr.Invalid,
		"maxPrice: $%s/h is over %d× the on-demand price of the dearest type asked (%s at $%s/h in %s); spot never costs more than on-demand, so ask for at most $%s/h",
		formatPrice(maxPrice), MaxPriceOnDemandFactor, which, formatPrice(dearest), region, formatPrice(dearest*MaxPriceOnDemandFactor))
}
