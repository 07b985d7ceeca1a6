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

// byKey sums listed instances per launch identity.
func byKey(listed []api.Instance) map[string]Claim {
	var m map[string]Claim // nil (no allocation) when none has a key
	for _, in := range listed {
		if key := in.LaunchKey(); key != "" {
			if m == nil {
				m = map[string]Claim{}
			}
			c := m[key]
			c.Count++
			c.Spend += in.Price.Dollars()
			m[key] = c
		}
	}
	return m
}

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

	mu        sync.Mutex
	tokens    map[string]*token
	lastSweep time.Time

	// shared, when set, keeps the claims in the store instead (NewShared).
	shared *shared
}

type token struct {
	claims  map[string]*held   // by launch key
	started map[string]started // by instance id
}

// held is one launch identity's claim and how many admitted attempts of it
// are under way: a reference count, so that an attempt ending (a retry that
// replayed, or a first try that failed before CreateFleet) does not give
// back what another attempt of the same identity still relies on.
type held struct {
	Claim
	refs int
}

type started struct {
	price float64
	until time.Time
	key   string // the launch that started it
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
	key   string // the launch identity
	holds bool   // the ticket holds a reference to key's claim
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
//
// key is the launch's identity (its EC2 ClientToken; "" for one of its
// own). What that identity already holds or started is left out of the
// usage check sees, since it is this launch, not another. A launch whose
// identity holds a claim joins it (held at the larger of the two) rather
// than reserving again; one whose identity already started instances
// holds nothing new: EC2 answers its CreateFleet with those instances.
func (l *Ledger) Admit(ctx context.Context, tokenID, key string, listed []api.Instance, check func(Counted) (Claim, error)) (*Ticket, error) {
	if key == "" {
		key = "once:" + newClaimID()
	}
	if l != nil && l.shared != nil {
		return l.admitShared(ctx, tokenID, key, listed, check)
	}
	var u Counted
	for _, in := range listed {
		u.Running++
		u.HourlySpend += in.Price.Dollars()
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
	settled := false
	// A started instance counts unless this listing shows it. It stays
	// when a listing does show it, until its time is up: another launch may
	// be checking a listing taken before it appeared.
	for id, s := range t.started {
		switch {
		case !now.Before(s.until):
			delete(t.started, id)
		case s.key == key:
			settled = true
		case !seen[id]:
			u.Running++
			u.HourlySpend += s.price
		}
	}
	shown := byKey(listed)
	for k, c := range t.claims {
		if k != key {
			c := unlisted(c.Claim, shown[k])
			u.InFlight.Running += c.Count
			u.InFlight.HourlySpend += c.Spend
		}
	}
	u.Running += u.InFlight.Running
	u.HourlySpend += u.InFlight.HourlySpend
	c, err := check(u)
	if err != nil {
		l.drop(tokenID, t)
		return nil, err
	}
	tk := &Ticket{l: l, token: tokenID, key: key}
	h := t.claims[key]
	if c == (Claim{}) || (settled && h == nil) {
		l.drop(tokenID, t)
		return tk, nil
	}
	if h == nil {
		h = &held{}
		t.claims[key] = h
	}
	h.Claim = maxClaim(h.Claim, c)
	h.refs++
	tk.holds = true
	return tk, nil
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
	tk.once.Do(func() {
		if tk.l.shared != nil {
			tk.settle(startedInstances)
			return
		}
		l := tk.l
		l.mu.Lock()
		defer l.mu.Unlock()
		t := l.token(tk.token)
		if h := t.claims[tk.key]; tk.holds && h != nil {
			if h.refs--; h.refs <= 0 || len(startedInstances) > 0 {
				delete(t.claims, tk.key)
			}
		}
		now := l.now()
		for _, in := range startedInstances {
			t.started[in.ID] = started{price: in.Price.Dollars(), until: now.Add(l.recent), key: tk.key}
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
		t = &token{claims: map[string]*held{}, started: map[string]started{}}
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
