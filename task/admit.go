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

// claim checks the launch against the usage counted (the rules every
// launch, a task's or a pool's, is admitted under: policy.Admit) and
// returns the fleet's total price cap and what the launch holds while in
// flight.
func (a *admission) claim(u inflight.Counted) (float64, inflight.Claim, error) {
	fleetCap, hold, err := a.pol.Admit(a.launch, u.Usage, u.InFlight)
	return fleetCap, inflight.Claim{Count: hold.Count, Spend: hold.Spend}, err
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
