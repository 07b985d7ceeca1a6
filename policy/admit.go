package policy

import (
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Hold is what an admitted launch holds against its token's caps while it
// is in flight: instances, and $/h.
type Hold struct {
	Count int
	Spend float64
}

// Admit is the admission of a launch, a task's or a pool's, under the
// usage rules (maxRunning, maxHourlySpend), against usage: what the token
// runs and, of it, inFlight, what other launches still in flight hold
// (named in a refusal, since a caller cannot see it in status). l.Count is
// the most instances the launch can start; l.MaxPrice, when set, bounds
// what it may spend. It returns the fleet's total price cap (0 for none)
// and what the launch holds until EC2 answers: nothing for a dry run,
// checked as a launch would be.
func (p *Policy) Admit(l api.Launch, usage, inFlight api.Usage) (fleetCap float64, hold Hold, err error) {
	if err := p.CheckUsage(l, usage); err != nil {
		return 0, Hold{}, inFlightDetail(err, inFlight)
	}
	hold = Hold{Count: l.Count}
	if p.MaxHourlySpend > 0 {
		// EC2 enforces the budget left as the fleet's total price cap;
		// the launch holds that much while in flight (no more than
		// count × maxPrice when there is one).
		left := p.MaxHourlySpend - usage.HourlySpend
		if left <= 0 {
			return 0, Hold{}, inFlightDetail(denied("rule maxHourlySpend: $%.4f/h already running of $%.4f/h", usage.HourlySpend, p.MaxHourlySpend), inFlight)
		}
		if l.MaxPrice > 0 {
			left = min(left, float64(l.Count)*l.MaxPrice)
		}
		fleetCap, hold.Spend = left, left
	}
	if l.DryRun {
		return fleetCap, Hold{}, nil
	}
	return fleetCap, hold, nil
}

// inFlightDetail adds to a refusal what of the usage it counted belongs to
// launches still under way.
func inFlightDetail(err error, inFlight api.Usage) error {
	if inFlight.Running == 0 || apperr.Code(err) != apperr.PolicyDenied {
		return err
	}
	return apperr.Wrap(err, apperr.PolicyDenied, "%s (counting %d instances, $%.4f/h, of launches of this token in flight)",
		apperr.Details(err), inFlight.Running, inFlight.HourlySpend)
}
