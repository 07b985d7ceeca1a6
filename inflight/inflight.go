// Package inflight keeps, per capability token, what its launches have
// claimed but EC2 may not list yet, so that concurrent launches of one
// token cannot together pass maxRunning or maxHourlySpend.
//
// A launch checks its policy against the token's live instances. Two
// launches of one token that count at the same time would each see room
// for themselves; and an instance just launched may not be listed for a
// few seconds (DescribeInstances is eventually consistent). The Ledger
// closes both gaps: a check counts, besides the live instances, the claims
// of launches still in flight and the instances started recently that a
// listing does not show. New keeps that in memory, for one replica alone
// (the embedded store); NewShared keeps it in the store that replicas
// share, so the limits hold across all of them. Both keep it as one record
// per token, changed in batches (batch.go).
//
// The record also keeps the token's count of live instances, reconciled
// with a listing of them (AdmitListing), so a launch need not list and
// decode every instance its token runs: it lists again only when the count
// is old or may have missed something, and before any refusal.
//
// A reservation belongs to a launch's identity (its EC2 ClientToken), not
// to one attempt: a retry that races its own first launch, or arrives
// after EC2 answered it but before the listing shows its instances, joins
// what that identity holds instead of reserving again. The same
// ClientToken makes EC2 answer both with the same instances, so the
// identity is counted once and the retry is never refused for its own
// reservation.
package inflight

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/api"
)

// DefaultRecent is how long an instance this replica started counts
// although EC2 does not list it: well past EC2's usual few seconds of
// listing lag. An instance ended by someone else within that time is
// counted until then, which errs on the side of the limits.
const DefaultRecent = time.Minute

// Counted is what a check counts against a token's limits: the token's
// usage, listed and in flight, and of it the part claimed by other
// launches still under way (InFlight), for a refusal to name.
type Counted struct {
	api.Usage
	InFlight api.Usage
}

// Claim is what an admitted launch may start: instances, and $/h.
type Claim struct {
	Count int
	Spend float64
}

// The ledger reads three things of an api.Instance: its ID, its Price,
// and its LaunchKey, the launch identity that started it ("" when
// unknown). A listed instance with a key stands for that launch's claim:
// it is not counted twice while the claim settles.

// unlisted is what of claim c of identity key the listing does not show
// yet: EC2 answered with some of its instances, which the listing counts.
func unlisted(c Claim, listed Claim) Claim {
	return Claim{Count: max(0, c.Count-listed.Count), Spend: max(0, c.Spend-listed.Spend)}
}

// Ledger is safe for concurrent use. A nil *Ledger admits on the listing
// alone.
type Ledger struct {
	recent time.Duration
	now    func() time.Time
	// maxAge is how long a token's reconciled count is trusted before a
	// launch lists its instances again (AdmitListing).
	maxAge time.Duration
	// shared keeps the records: in the store (NewShared), or in memory
	// for one replica alone (New).
	shared *shared
}

// DefaultMaxAge is how long a token's count, reconciled with a listing of
// its instances, is trusted before AdmitListing lists them again. Within
// it the count errs only upwards (instances that ended on their own still
// count), and a refusal always lists first, so its only cost is that
// listing.
const DefaultMaxAge = time.Minute

// New returns a Ledger for one replica alone, kept in memory, counting
// unlisted instances for recent (0: DefaultRecent); now nil means
// time.Now.
func New(recent time.Duration, now func() time.Time) *Ledger {
	l := newLedger(recent, now)
	l.shared = &shared{tries: 1, log: slog.New(slog.DiscardHandler), queues: map[string]*queue{}, recent: l.recent}
	return l
}

func newLedger(recent time.Duration, now func() time.Time) *Ledger {
	if recent <= 0 {
		recent = DefaultRecent
	}
	if now == nil {
		now = time.Now
	}
	return &Ledger{recent: recent, now: now, maxAge: DefaultMaxAge}
}

// Ticket is an admitted launch's claim; Done ends it.
type Ticket struct {
	l     *Ledger
	token string
	key   string // the launch identity
	once  sync.Once

	// The claim's holder id ("" when it holds nothing) and the end of its
	// lease (unix ns).
	claim string
	until int64
}

// Lister lists a token's live (pending and running) instances, with their
// prices when a spend cap needs them.
type Lister func(ctx context.Context) ([]api.Instance, error)

// Admit counts listed (the token's live instances, not those of the launch
// being admitted) plus the token's claims in flight and its recently started
// instances missing from listed, and passes that to check. When check
// accepts, its Claim is held until the Ticket's Done. The check runs while
// the token's record is being written: keep it to arithmetic. It may run
// more than once (once per check-and-set attempt), and Admit fails with
// unavailable (Retry-After set) when the store does not answer or every
// attempt lost to other replicas' writes.
//
// key is the launch's identity (its EC2 ClientToken; "" for one of its
// own). What that identity already holds or started is left out of the
// usage check sees, since it is this launch, not another. A launch whose
// identity holds a claim joins it (held at the larger of the two) rather
// than reserving again; one whose identity already started instances
// holds nothing new: EC2 answers its CreateFleet with those instances.
func (l *Ledger) Admit(ctx context.Context, tokenID, key string, listed []api.Instance, check func(Counted) (Claim, error)) (*Ticket, error) {
	if listed == nil {
		listed = []api.Instance{}
	}
	return l.admit(ctx, tokenID, key, "", listed, time.Time{}, nil, check)
}

// AdmitListed is Admit with a listing known to have begun no earlier than
// began (a caller that lists the token's instances itself, a pool's
// launch): it lets the ledger forget the started instances the listing
// shows, as it does with its own listings (AdmitListing), so the record
// keeps only the last seconds of launches. A began earlier than the
// listing's true start is safe; a later one is not.
func (l *Ledger) AdmitListed(ctx context.Context, tokenID, key string, listed []api.Instance, began time.Time, check func(Counted) (Claim, error)) (*Ticket, error) {
	if listed == nil {
		listed = []api.Instance{}
	}
	return l.admit(ctx, tokenID, key, "", listed, began, nil, check)
}

// AdmitListing is Admit without a listing at hand: the ledger keeps each
// token's count of live instances, reconciled with a listing by list, and
// calls list only when that count is missing, older than DefaultMaxAge,
// or may have missed something (an instance this ledger was told ended, a
// claim that lapsed unsettled), and before any refusal. So a launch's cost
// does not grow with the instances its token runs, and the caps stay
// exact: between listings the count only errs upwards, and no launch is
// refused on it. list should return every live instance of the token in
// scope (the launch's region), this launch's own included, priced; a count
// kept for another scope is listed again.
func (l *Ledger) AdmitListing(ctx context.Context, tokenID, key, scope string, list Lister, check func(Counted) (Claim, error)) (*Ticket, error) {
	return l.admit(ctx, tokenID, key, scope, nil, time.Time{}, list, check)
}

func (l *Ledger) admit(ctx context.Context, tokenID, key, scope string, listed []api.Instance, began time.Time, list Lister, check func(Counted) (Claim, error)) (*Ticket, error) {
	if key == "" {
		key = "once:" + newClaimID()
	}
	if l != nil {
		return l.admitShared(ctx, tokenID, key, scope, listed, began, list, check)
	}
	if listed == nil {
		var err error
		if listed, err = list(ctx); err != nil {
			return nil, err
		}
	}
	var u Counted
	for _, in := range listed {
		if in.LaunchKey() != key {
			u.Running++
			u.HourlySpend += in.Price.Dollars()
		}
	}
	_, err := check(u)
	return nil, err
}

// maxClaim is the larger of two claims of one identity, part by part: a
// retry asking for more than its first try holds the difference too.
func maxClaim(a, b Claim) Claim {
	return Claim{Count: max(a.Count, b.Count), Spend: max(a.Spend, b.Spend)}
}

// Done releases the ticket's claim and remembers the instances the launch
// started, so that for the recent period they count wherever a listing does
// not show them. Calling it again, or on a nil Ticket, does nothing.
//
// Started instances settle the identity's claim for every attempt holding
// it: EC2 has answered its ClientToken, so no attempt can start more. With
// none, only this attempt's reference goes; the claim stays while another
// attempt of the identity, which may yet reach CreateFleet, holds it.
func (tk *Ticket) Done(startedInstances []api.Instance) {
	if tk == nil {
		return
	}
	tk.once.Do(func() { tk.settle(startedInstances) })
}

// Ended forgets instances this replica saw end (a terminate), so they stop
// counting at once.
func (l *Ledger) Ended(ctx context.Context, tokenID string, ids []string) {
	if l == nil || len(ids) == 0 {
		return
	}
	l.endedShared(ctx, tokenID, ids)
}
