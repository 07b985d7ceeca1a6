package task

import (
	"context"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
)

// admission is a launch's hold on its token's caps while it is in flight:
// the ledger's ticket, and the timer that gives the launch up shortly
// before the ticket's lease ends.
type admission struct {
	ledger      Ledger
	tokenID     string
	clientToken string
	pol         *policy.Policy
	req         policy.Request
	launch      policy.Launch
	// giveUp cancels the launch.
	giveUp context.CancelFunc

	ticket *inflight.Ticket
	lease  *time.Timer
}

// admit is the launch's LaunchSpec.Admit: once Launch has listed what the
// token runs (others), the usage-dependent rules are checked against it
// plus the launches of the token still in flight, and the launch's claim
// is reserved. It returns the fleet's total price cap (0 for none).
func (a *admission) admit(ctx context.Context, others []spot.Instance) (float64, error) {
	var fleetCap float64
	tk, err := a.ledger.Admit(ctx, a.tokenID, a.clientToken, ledgerInstances(others), func(u inflight.Usage) (inflight.Claim, error) {
		var claim inflight.Claim
		var err error
		fleetCap, claim, err = a.claim(u)
		return claim, err
	})
	a.ticket = tk
	if until := tk.Expires(); !until.IsZero() {
		a.lease = time.AfterFunc(time.Until(until)-a.ledger.Lease()/10, a.giveUp)
	}
	return fleetCap, err
}

// claim checks the launch against the usage counted and returns the
// fleet's total price cap and what the launch holds while in flight.
func (a *admission) claim(u inflight.Usage) (float64, inflight.Claim, error) {
	usage := policy.Usage{Running: u.Running, HourlySpend: u.HourlySpend}
	if _, err := a.pol.ResolveLaunch(a.req, usage); err != nil {
		return 0, inflight.Claim{}, inFlightDetail(err, u)
	}
	claim := inflight.Claim{Count: a.launch.Count}
	var fleetCap float64
	if a.pol.MaxHourlySpend > 0 {
		// EC2 enforces the budget left as the fleet's total price cap;
		// the launch holds that much while in flight (no more than
		// count × maxPrice when there is one).
		left := a.pol.MaxHourlySpend - usage.HourlySpend
		if left <= 0 {
			return 0, inflight.Claim{}, inFlightDetail(apperr.New(apperr.PolicyDenied, "rule maxHourlySpend: $%.4f/h already running of $%.4f/h", usage.HourlySpend, a.pol.MaxHourlySpend), u)
		}
		if a.launch.MaxPrice > 0 {
			left = min(left, float64(a.launch.Count)*a.launch.MaxPrice)
		}
		fleetCap, claim.Spend = left, left
	}
	if a.launch.DryRun {
		return fleetCap, inflight.Claim{}, nil // checked as a launch would be; holds nothing
	}
	return fleetCap, claim, nil
}

// started is the launch's LaunchSpec.Started: the claim is settled as soon
// as EC2 answered, so a launch that waits for its instances to run does
// not hold its reservation meanwhile.
func (a *admission) started(ins []spot.Instance) {
	a.stopLease()
	a.ticket.Done(ledgerInstances(ins))
}

// settle turns the claim into what Launch started: nothing new when EC2
// already knew the ClientToken (a replay found after admit).
func (a *admission) settle(res spot.LaunchResult) {
	if res.Replayed {
		a.ticket.Done(nil)
		return
	}
	a.ticket.Done(ledgerInstances(res.Instances))
}

// release gives the claim back if nothing settled it (an error, a panic).
func (a *admission) release() {
	a.stopLease()
	a.ticket.Done(nil)
}

func (a *admission) stopLease() {
	if a.lease != nil {
		a.lease.Stop()
	}
}

func ledgerInstances(ins []spot.Instance) []inflight.Instance {
	out := make([]inflight.Instance, len(ins))
	for i, in := range ins {
		out[i] = inflight.Instance{ID: in.ID, Price: in.Price.Dollars(), Key: in.Tag(spot.TagClientToken)}
	}
	return out
}

// inFlightDetail adds to a refusal what of the usage it counted belongs to
// launches still under way, which a caller cannot see in status.
func inFlightDetail(err error, u inflight.Usage) error {
	if u.InFlightRunning == 0 || apperr.Code(err) != apperr.PolicyDenied {
		return err
	}
	return apperr.Wrap(err, apperr.PolicyDenied, "%s (counting %d instances, $%.4f/h, of launches of this token in flight)",
		apperr.Details(err), u.InFlightRunning, u.InFlightSpend)
}
