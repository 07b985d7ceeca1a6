package inflight

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// Store is the part of secrets.Store the shared ledger uses: versioned
// records with check-and-set.
type Store interface {
	Get(ctx context.Context, key string) (secrets.Record, error)
	Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error)
}

// Defaults of SharedOptions.
const (
	// DefaultLease is how long a reservation holds if its launch never
	// settles it (the replica died). It covers the listing, the price
	// lookup and CreateFleet with the SDK's retries; Launch settles before
	// it waits for the instances to run.
	DefaultLease = 2 * time.Minute
	// DefaultTries bounds the check-and-set attempts of one Admit.
	DefaultTries = 12
	// busyRetryAfter is what a launch that lost every attempt is told.
	busyRetryAfter = time.Second
)

// SharedOptions configures NewShared.
type SharedOptions struct {
	Lease  time.Duration // 0: DefaultLease
	Recent time.Duration // 0: DefaultRecent
	Tries  int           // 0: DefaultTries
	Now    func() time.Time
	Log    *slog.Logger
}

// shared keeps the ledger in the store, one record per token, so that
// every replica's launches count each other's.
type shared struct {
	st    Store
	lease time.Duration
	tries int
	log   *slog.Logger

	// mu guards queues: per token, the changes waiting for its record and
	// the record as this replica last wrote it (batch.go). One writer per
	// token on this replica, so only other replicas' writes can conflict.
	mu     sync.Mutex
	queues map[string]*queue
	// A memory ledger (st nil) forgets idle tokens every recent period.
	recent    time.Duration
	lastSweep time.Time
}

// NewShared returns a Ledger whose claims and recently started instances
// live in st under "usage/<token id>", guarded by check-and-set, so that
// maxRunning and maxHourlySpend hold across every replica sharing st.
// A claim is a lease: if its launch never settles it (the replica died),
// it stops counting at its end.
func NewShared(st Store, o SharedOptions) *Ledger {
	l := newLedger(o.Recent, o.Now)
	s := &shared{st: st, lease: o.Lease, tries: o.Tries, log: o.Log, queues: map[string]*queue{}}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if s.tries <= 0 {
		s.tries = DefaultTries
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.recent = l.recent
	l.shared = s
	return l
}

// usage is the record at usage/<token id>. Launch keys (ClientTokens, a
// digest that EC2 tags on the instances too), instance ids and prices
// only: nothing secret.
type usage struct {
	Claims  map[string]claimRec `json:"claims,omitempty"`  // by launch key
	Started map[string]startRec `json:"started,omitempty"` // by instance id
	// Base is the token's live instances as last reconciled: what a
	// listing showed, plus what was started since or not listed yet. A
	// replica of a version without it drops it when it writes, so the
	// next launch lists again.
	Base *baseRec `json:"base,omitempty"`
}

// baseRec counts the token's live instances, every instance in Started
// among them.
type baseRec struct {
	Count int     `json:"n"`
	Spend float64 `json:"spend,omitempty"`
	At    int64   `json:"at"` // unix ns: when the listing was taken
	// Scope is what the listing covered (a launch's region): a launch in
	// another lists again.
	Scope string `json:"scope,omitempty"`
	// Stale: something may have ended that the count cannot take out (a
	// terminate, a claim that lapsed unsettled and may have started
	// instances): list before relying on it.
	Stale bool `json:"stale,omitempty"`
}

// claimRec is one launch identity's claim. Each admitted attempt of it is
// a holder with a lease of its own: a reference count that a crashed
// replica's attempt cannot leak, since its lease lapses. The claim counts
// while any holder's lease runs.
type claimRec struct {
	Count   int              `json:"n"`
	Spend   float64          `json:"spend,omitempty"`
	Until   int64            `json:"until"`             // unix ns: the last holder's lease end
	Holders map[string]int64 `json:"holders,omitempty"` // holder id → lease end, unix ns
	// Listed are its instances the last reconciling listing showed (EC2
	// answered, the claim is not settled yet): Base counts them already.
	Listed      []string `json:"listed,omitempty"`
	ListedSpend float64  `json:"listedSpend,omitempty"`
}

type startRec struct {
	Price float64 `json:"price,omitempty"`
	Until int64   `json:"until"`
	Key   string  `json:"key,omitempty"` // the launch that started it
}

func usageKey(tokenID string) string { return "usage/" + tokenID }

// load reads the token's record with its version (CreateOnly when none).
func (s *shared) load(ctx context.Context, tokenID string) (usage, int, error) {
	rec, err := s.st.Get(ctx, usageKey(tokenID))
	if errors.Is(err, secrets.ErrNotFound) {
		return usage{}, secrets.CreateOnly, nil
	}
	if err != nil {
		return usage{}, 0, err
	}
	var u usage
	if err := json.Unmarshal(rec.Public, &u); err != nil {
		return usage{}, 0, apperr.Wrap(err, apperr.Internal, "usage record of token %s is not valid", tokenID)
	}
	return u, rec.Version, nil
}

func (s *shared) save(ctx context.Context, tokenID string, u usage, cas int) (int, error) {
	b, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	return s.st.Put(ctx, usageKey(tokenID), secrets.Record{Public: b}, cas)
}

// prune drops the claims, holders and started instances whose time is up.
// A claim that lapses was never settled: its launch may have started
// instances the count does not hold, so the count is stale.
func (u *usage) prune(now time.Time) {
	n := now.UnixNano()
	for k, c := range u.Claims {
		for h, until := range c.Holders {
			if n >= until {
				delete(c.Holders, h)
			}
		}
		if n >= c.Until || (c.Holders != nil && len(c.Holders) == 0) {
			delete(u.Claims, k)
			if u.Base != nil {
				u.Base.Stale = true
			}
		}
	}
	for id, st := range u.Started {
		if n >= st.Until {
			delete(u.Started, id)
		}
	}
}

// needsListing says the count cannot be relied on at now in scope.
func (u *usage) needsListing(now time.Time, maxAge time.Duration, scope string) bool {
	return u.Base == nil || u.Base.Stale || u.Base.Scope != scope || now.UnixNano()-u.Base.At >= int64(maxAge)
}

// reconcile takes a listing taken at at as the token's count: what it
// shows, plus the started instances it does not show yet, and notes for
// each claim what of it the listing shows. A listing older than the count
// is not taken. It reports whether the record changed.
func (u *usage) reconcile(listed []api.Instance, at time.Time, scope string) bool {
	if u.Base != nil && !u.Base.Stale && u.Base.Scope == scope && at.UnixNano() < u.Base.At {
		return false
	}
	b := &baseRec{At: at.UnixNano(), Scope: scope}
	seen := make(map[string]bool, len(listed))
	for _, in := range listed {
		b.Count++
		b.Spend += in.Price.Dollars()
		seen[in.ID] = true
	}
	for id, st := range u.Started {
		if !seen[id] {
			b.Count++
			b.Spend += st.Price
		}
	}
	changed := u.Base == nil || u.Base.Count != b.Count || u.Base.Spend != b.Spend || u.Base.Stale || u.Base.Scope != scope
	for k, c := range u.Claims {
		var ids []string
		spend := 0.0
		for _, in := range listed {
			if in.LaunchKey() == k {
				ids = append(ids, in.ID)
				spend += in.Price.Dollars()
			}
		}
		if len(ids) != len(c.Listed) {
			changed = true
		}
		c.Listed, c.ListedSpend = ids, spend
		u.Claims[k] = c
	}
	if !changed {
		b.At = max(b.At, u.Base.At) // newer, but not worth a write alone
	}
	u.Base = b
	return changed
}

// count is Admit's arithmetic on a reconciled record: the count, less what
// the launch identity key itself started, plus the other identities'
// claims that the count does not hold yet; settled reports that key
// started some.
func (u *usage) count(key string) (r Counted, settled bool) {
	r.Running, r.HourlySpend = u.Base.Count, u.Base.Spend
	for _, st := range u.Started {
		if st.Key == key {
			settled = true
			r.Running--
			r.HourlySpend -= st.Price
		}
	}
	for k, c := range u.Claims {
		if k != key {
			c := unlisted(Claim{Count: c.Count, Spend: c.Spend}, Claim{Count: len(c.Listed), Spend: c.ListedSpend})
			r.InFlight.Running += c.Count
			r.InFlight.HourlySpend += c.Spend
		}
	}
	r.Running = max(0, r.Running+r.InFlight.Running)
	r.HourlySpend = max(0, r.HourlySpend+r.InFlight.HourlySpend)
	return r, settled
}

// settle turns what key holds into the instances it started: they join
// the count, except those a listing already put there.
func (u *usage) settle(key, holder string, startedInstances []api.Instance, until int64) bool {
	changed := false
	cr, ok := u.Claims[key]
	if ok && holder != "" {
		if _, held := cr.Holders[holder]; held {
			delete(cr.Holders, holder)
			changed = true
		}
		if len(cr.Holders) == 0 || len(startedInstances) > 0 {
			delete(u.Claims, key)
			changed = true
		}
	}
	if len(startedInstances) > 0 && u.Started == nil {
		u.Started = map[string]startRec{}
	}
	for _, in := range startedInstances {
		if _, dup := u.Started[in.ID]; dup {
			continue
		}
		u.Started[in.ID] = startRec{Price: in.Price.Dollars(), Until: until, Key: key}
		if u.Base != nil && !slices.Contains(cr.Listed, in.ID) {
			u.Base.Count++
			u.Base.Spend += in.Price.Dollars()
		}
		changed = true
	}
	return changed
}

// backoff sleeps a jittered, growing while after the attempt-th conflict.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(4<<min(attempt, 4))) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func busy(tokenID string, tries int) error {
	e := apperr.New(apperr.Unavailable, "too many launches of token %s at once across replicas (%d attempts to reserve its capacity lost); retry in a second with the same Idempotency-Key", tokenID, tries)
	e.RetryAfter = busyRetryAfter
	return e
}

func storeDown(err error) error {
	if apperr.Code(err) == apperr.Unavailable {
		return err
	}
	return apperr.Wrap(err, apperr.Unavailable, "the store did not take this launch's reservation; retry shortly")
}

// Expires is when the ticket's claim stops counting unless settled: the
// end of its lease on a shared ledger; zero when nothing lapses (a memory
// ledger, or a claim of nothing). A launch should not begin CreateFleet
// past it, since other replicas no longer count the claim.
func (tk *Ticket) Expires() time.Time {
	if tk == nil || tk.claim == "" || tk.l.shared.st == nil {
		return time.Time{}
	}
	return time.Unix(0, tk.until)
}

// Lease is the shared ledger's lease, 0 for a memory ledger.
func (l *Ledger) Lease() time.Duration {
	if l == nil || l.shared.st == nil {
		return 0
	}
	return l.shared.lease
}

func newClaimID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
