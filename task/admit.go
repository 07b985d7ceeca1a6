package task

import (
	"context"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
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
	// region scopes the ledger's count; list lists the token's live
	// instances there, priced.
	region string
	list   inflight.Lister
	pol    *policy.Policy
	launch api.Launch
	// giveUp cancels the launch.
	giveUp context.CancelFunc

	ticket *inflight.Ticket
	lease  *time.Timer
	// admitted: the launch passed admission (and so may have reached
	// CreateFleet); a replayed failure did not.
	admitted bool
}

// admit is the launch's LaunchSpec.Admit: the usage-dependent rules are
// checked against what the token runs in the region plus its launches
// still in flight, and the launch's claim is reserved. The ledger keeps
// the token's count (per region, priced, as a policy may gain a spend cap)
// and lists its instances only when it must (AdmitCounts: Launch passes
// only this launch's own, so admit ignores them). It returns the fleet's
// total price cap (0 for none).
func (a *admission) admit(ctx context.Context) (float64, error) {
	var fleetCap float64
	tk, err := a.ledger.AdmitListing(ctx, a.tokenID, a.clientToken, a.region, a.list, func(u inflight.Counted) (inflight.Claim, error) {
		var claim inflight.Claim
		var err error
		fleetCap, claim, err = a.claim(u)
		return claim, err
	})
	a.ticket, a.admitted = tk, err == nil
	if until := tk.Expires(); !until.IsZero() {
		a.lease = time.AfterFunc(time.Until(until)-a.ledger.Lease()/10, a.giveUp)
	}
	return fleetCap, err
}

// claim checks the launch against the usage counted and returns the
// fleet's total price cap and what the launch holds while in flight.
func (a *admission) claim(u inflight.Counted) (float64, inflight.Claim, error) {
	usage := u.Usage
	if err := a.pol.CheckUsage(a.launch, usage); err != nil {
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
	a.ticket.Done(ins)
}

// settle turns the claim into what Launch started: nothing new when EC2
// already knew the ClientToken (a replay found after admit).
func (a *admission) settle(res spot.LaunchResult) {
	if res.Replayed {
		a.ticket.Done(nil)
		return
	}
	a.ticket.Done(res.Instances)
}

// capacityRetryAfter is when a launch that found no capacity may be tried
// again (with a new key): spot capacity comes back in minutes, not seconds.
const capacityRetryAfter = 30 * time.Second

// failed is the launch's error once Launch returned. A launch that found
// no capacity reached CreateFleet, which bound its ClientToken to that
// attempt: the same key can only get this answer again, so the ledger
// keeps it for a retry (on any replica) and the caller is told to use a
// new key. A key made for this launch alone ("once:") has no retry.
func (a *admission) failed(err error, key string) error {
	if !a.admitted || apperr.Code(err) != apperr.CapacityUnavailable || strings.HasPrefix(key, "once:") {
		return err
	}
	e := apperr.Wrap(err, apperr.CapacityUnavailable, "%s. This launch's idempotency key is now bound to this attempt (EC2 keeps the ClientToken made from it), so the same request gets this same answer: to try again, send it with a new Idempotency-Key (without one: change the body, e.g. a tag)", apperr.Details(err))
	e.RetryAfter = capacityRetryAfter
	a.ledger.Failed(a.tokenID, a.clientToken, e)
	return e
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

// inFlightDetail adds to a refusal what of the usage it counted belongs to
// launches still under way, which a caller cannot see in status.
func inFlightDetail(err error, u inflight.Counted) error {
	if u.InFlight.Running == 0 || apperr.Code(err) != apperr.PolicyDenied {
		return err
	}
	return apperr.Wrap(err, apperr.PolicyDenied, "%s (counting %d instances, $%.4f/h, of launches of this token in flight)",
		apperr.Details(err), u.InFlight.Running, u.InFlight.HourlySpend)
}
