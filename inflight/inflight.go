// Package inflight keeps, per capability token, what this replica's
// launches have claimed but EC2 may not list yet, so that concurrent
// launches of one token cannot together pass maxRunning or maxHourlySpend.
//
// A launch lists the token's live instances and checks its policy against
// them. Two launches of one token that list at the same time would each see
// room for themselves; and an instance just launched may not be listed for
// a few seconds (DescribeInstances is eventually consistent). The Ledger
// closes both gaps on one replica: a check counts, besides what was listed,
// the claims of launches still in flight and the instances this replica
// started recently that the list does not show. New keeps that in memory,
// for one replica alone (the embedded store); NewShared keeps it in the
// store that replicas share, so the limits hold across all of them.
package inflight

import (
	"context"
	"sync"
	"time"
)

// DefaultRecent is how long an instance this replica started counts
// although EC2 does not list it: well past EC2's usual few seconds of
// listing lag. An instance ended by someone else within that time is
// counted until then, which errs on the side of the limits.
const DefaultRecent = time.Minute

// Usage is what a check counts against a token's limits.
type Usage struct {
	Running     int
	HourlySpend float64 // $/h
	// InFlight is the part of Running and HourlySpend claimed by other
	// launches still under way, for the refusal to name.
	InFlightRunning int
	InFlightSpend   float64
}

// Claim is what an admitted launch may start: instances, and $/h.
type Claim struct {
	Count int
	Spend float64
}

// Instance is one instance as the ledger counts it.
type Instance struct {
	ID    string
	Price float64 // $/h
}

// Ledger is safe for concurrent use. A nil *Ledger admits on the listing
// alone.
type Ledger struct {
	recent time.Duration
	now    func() time.Time

	mu        sync.Mutex
	tokens    map[string]*token
	lastSweep time.Time

	// shared, when set, keeps the claims in the store instead (NewShared).
	shared *shared
}

type token struct {
	claims  map[*Ticket]Claim
	started map[string]started // by instance id
}

type started struct {
	price float64
	until time.Time
}

// New returns a Ledger counting unlisted instances for recent (0:
// DefaultRecent); now nil means time.Now.
func New(recent time.Duration, now func() time.Time) *Ledger {
	if recent <= 0 {
		recent = DefaultRecent
	}
	if now == nil {
		now = time.Now
	}
	return &Ledger{recent: recent, now: now, tokens: map[string]*token{}}
}

// Ticket is an admitted launch's claim; Done ends it.
type Ticket struct {
	l     *Ledger
	token string
	once  sync.Once

	// A shared ledger's claim: its id, and the record and version Admit
	// wrote, for Done to write on first.
	claim string
	rec   usage
	ver   int
}

// Admit counts listed (the token's live instances, not those of the launch
// being admitted) plus the token's claims in flight and its recently started
// instances missing from listed, and passes that to check. When check
// accepts, its Claim is held until the Ticket's Done. The check runs under
// the ledger's lock: keep it to arithmetic. On a shared ledger it may run
// more than once (once per check-and-set attempt), and Admit fails with
// unavailable (Retry-After set) when the store does not answer or every
// attempt lost to other replicas' writes.
func (l *Ledger) Admit(ctx context.Context, tokenID string, listed []Instance, check func(Usage) (Claim, error)) (*Ticket, error) {
	if l != nil && l.shared != nil {
		return l.admitShared(ctx, tokenID, listed, check)
	}
	var u Usage
	for _, in := range listed {
		u.Running++
		u.HourlySpend += in.Price
	}
	if l == nil {
		_, err := check(u)
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.token(tokenID)
	now := l.now()
	seen := make(map[string]bool, len(listed))
	for _, in := range listed {
		seen[in.ID] = true
	}
	// A started instance counts unless this listing shows it. It stays
	// when a listing does show it, until its time is up: another launch may
	// be checking a listing taken before it appeared.
	for id, s := range t.started {
		switch {
		case !now.Before(s.until):
			delete(t.started, id)
		case !seen[id]:
			u.Running++
			u.HourlySpend += s.price
		}
	}
	for _, c := range t.claims {
		u.InFlightRunning += c.Count
		u.InFlightSpend += c.Spend
	}
	u.Running += u.InFlightRunning
	u.HourlySpend += u.InFlightSpend
	c, err := check(u)
	if err != nil {
		l.drop(tokenID, t)
		return nil, err
	}
	tk := &Ticket{l: l, token: tokenID}
	t.claims[tk] = c
	return tk, nil
}

// Done releases the ticket's claim and remembers the instances the launch
// started, so that for the recent period they count wherever a listing does
// not show them. Calling it again, or on a nil Ticket, does nothing.
func (tk *Ticket) Done(startedInstances []Instance) {
	if tk == nil {
		return
	}
	tk.once.Do(func() {
		if tk.l.shared != nil {
			tk.settle(startedInstances)
			return
		}
		l := tk.l
		l.mu.Lock()
		defer l.mu.Unlock()
		t := l.token(tk.token)
		delete(t.claims, tk)
		now := l.now()
		for _, in := range startedInstances {
			t.started[in.ID] = started{price: in.Price, until: now.Add(l.recent)}
		}
		l.drop(tk.token, t)
		l.sweep(now)
	})
}

// sweep forgets, at most once per recent period, the started instances
// whose time is up, so tokens that launch no more do not stay.
func (l *Ledger) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.recent {
		return
	}
	l.lastSweep = now
	for id, t := range l.tokens {
		for iid, s := range t.started {
			if !now.Before(s.until) {
				delete(t.started, iid)
			}
		}
		l.drop(id, t)
	}
}

// Ended forgets instances this replica saw end (a terminate), so they stop
// counting at once.
func (l *Ledger) Ended(ctx context.Context, tokenID string, ids []string) {
	if l == nil || len(ids) == 0 {
		return
	}
	if l.shared != nil {
		l.endedShared(ctx, tokenID, ids)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.tokens[tokenID]
	if !ok {
		return
	}
	for _, id := range ids {
		delete(t.started, id)
	}
	l.drop(tokenID, t)
}

func (l *Ledger) token(id string) *token {
	t, ok := l.tokens[id]
	if !ok {
		t = &token{claims: map[*Ticket]Claim{}, started: map[string]started{}}
		l.tokens[id] = t
	}
	return t
}

// drop forgets a token with nothing in flight or recent, so the ledger
// holds only the tokens launching now.
func (l *Ledger) drop(id string, t *token) {
	if len(t.claims) == 0 && len(t.started) == 0 {
		delete(l.tokens, id)
	}
}
