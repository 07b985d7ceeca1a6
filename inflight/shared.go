package inflight

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
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
	// stripes serialise this replica's launches of one token, so its own
	// launches do not race each other's check-and-set; only other
	// replicas' writes can conflict.
	stripes [64]sync.Mutex
}

// NewShared returns a Ledger whose claims and recently started instances
// live in st under "usage/<token id>", guarded by check-and-set, so that
// maxRunning and maxHourlySpend hold across every replica sharing st.
// A claim is a lease: if its launch never settles it (the replica died),
// it stops counting at its end.
func NewShared(st Store, o SharedOptions) *Ledger {
	l := New(o.Recent, o.Now)
	s := &shared{st: st, lease: o.Lease, tries: o.Tries, log: o.Log}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if s.tries <= 0 {
		s.tries = DefaultTries
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	l.shared = s
	return l
}

// usage is the record at usage/<token id>. Launch keys (ClientTokens, a
// digest that EC2 tags on the instances too), instance ids and prices
// only: nothing secret.
type usage struct {
	Claims  map[string]claimRec `json:"claims,omitempty"`  // by launch key
	Started map[string]startRec `json:"started,omitempty"` // by instance id
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
}

type startRec struct {
	Price float64 `json:"price,omitempty"`
	Until int64   `json:"until"`
	Key   string  `json:"key,omitempty"` // the launch that started it
}

func usageKey(tokenID string) string { return "usage/" + tokenID }

func (s *shared) stripe(tokenID string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(tokenID))
	return &s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

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
		}
	}
	for id, st := range u.Started {
		if n >= st.Until {
			delete(u.Started, id)
		}
	}
}

// count is Admit's arithmetic on a shared record: listed, plus started
// instances the listing does not show, plus claims, leaving out what the
// launch identity key itself holds or started; settled reports that it
// started some.
func (u *usage) count(listed []api.Instance, key string) (r Counted, settled bool) {
	seen := make(map[string]bool, len(listed))
	for _, in := range listed {
		r.Running++
		r.HourlySpend += in.Price.Dollars()
		seen[in.ID] = true
	}
	for id, st := range u.Started {
		switch {
		case st.Key == key:
			settled = true
		case !seen[id]:
			r.Running++
			r.HourlySpend += st.Price
		}
	}
	shown := byKey(listed)
	for k, c := range u.Claims {
		if k != key {
			c := unlisted(Claim{Count: c.Count, Spend: c.Spend}, shown[k])
			r.InFlight.Running += c.Count
			r.InFlight.HourlySpend += c.Spend
		}
	}
	r.Running += r.InFlight.Running
	r.HourlySpend += r.InFlight.HourlySpend
	return r, settled
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

func (l *Ledger) admitShared(ctx context.Context, tokenID, key string, listed []api.Instance, check func(Counted) (Claim, error)) (*Ticket, error) {
	s := l.shared
	mu := s.stripe(tokenID)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; attempt < s.tries; attempt++ {
		u, ver, err := s.load(ctx, tokenID)
		if err != nil {
			return nil, storeDown(err)
		}
		now := l.now()
		u.prune(now)
		counted, settled := u.count(listed, key)
		c, err := check(counted)
		if err != nil {
			return nil, err
		}
		tk := &Ticket{l: l, token: tokenID, key: key}
		cr, live := u.Claims[key]
		if c == (Claim{}) || (settled && !live) {
			// Holds nothing (a dry run), or EC2 already answered this
			// identity: nothing to write.
			return tk, nil
		}
		tk.claim = newClaimID()
		if u.Claims == nil {
			u.Claims = map[string]claimRec{}
		}
		if cr.Holders == nil {
			cr.Holders = map[string]int64{}
		}
		until := now.Add(s.lease).UnixNano()
		m := maxClaim(Claim{Count: cr.Count, Spend: cr.Spend}, c)
		cr.Count, cr.Spend, cr.Until = m.Count, m.Spend, max(cr.Until, until)
		cr.Holders[tk.claim] = until
		u.Claims[key] = cr
		v, err := s.save(ctx, tokenID, u, ver)
		if errors.Is(err, secrets.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return nil, storeDown(err)
			}
			continue
		}
		if err != nil {
			return nil, storeDown(err)
		}
		tk.rec, tk.ver = u, v
		return tk, nil
	}
	return nil, busy(tokenID, s.tries)
}

// Expires is when the ticket's claim stops counting unless settled: the
// end of its lease on a shared ledger; zero when nothing lapses (a memory
// ledger, or a claim of nothing). A launch should not begin CreateFleet
// past it, since other replicas no longer count the claim.
func (tk *Ticket) Expires() time.Time {
	if tk == nil || tk.claim == "" {
		return time.Time{}
	}
	return time.Unix(0, tk.rec.Claims[tk.key].Holders[tk.claim])
}

// Lease is the shared ledger's lease, 0 for a memory ledger.
func (l *Ledger) Lease() time.Duration {
	if l == nil || l.shared == nil {
		return 0
	}
	return l.shared.lease
}

func newClaimID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// settle turns the ticket's claim into the instances it started, as Done
// says: started instances end the identity's claim, none end only this
// holder's part of it. It first
// writes on the record Admit wrote (one round trip when no one wrote
// since), then reads again on a conflict. If the store does not answer,
// the claim stays until its lease ends: it errs on the side of the limits.
func (tk *Ticket) settle(startedInstances []api.Instance) {
	s := tk.l.shared
	if tk.claim == "" && len(startedInstances) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), secrets.DefaultTimeout)
	defer cancel()
	mu := s.stripe(tk.token)
	mu.Lock()
	defer mu.Unlock()
	u, ver, have := tk.rec, tk.ver, tk.claim != ""
	for attempt := 0; attempt < s.tries; attempt++ {
		if !have {
			var err error
			if u, ver, err = s.load(ctx, tk.token); err != nil {
				break
			}
		}
		now := tk.l.now()
		u.prune(now)
		if cr, ok := u.Claims[tk.key]; ok && tk.claim != "" {
			delete(cr.Holders, tk.claim)
			if len(cr.Holders) == 0 || len(startedInstances) > 0 {
				delete(u.Claims, tk.key)
			}
		}
		if len(startedInstances) > 0 && u.Started == nil {
			u.Started = map[string]startRec{}
		}
		for _, in := range startedInstances {
			u.Started[in.ID] = startRec{Price: in.Price.Dollars(), Until: now.Add(tk.l.recent).UnixNano(), Key: tk.key}
		}
		_, err := s.save(ctx, tk.token, u, ver)
		if err == nil {
			return
		}
		if !errors.Is(err, secrets.ErrConflict) {
			s.log.Warn("settling a launch's reservation failed; it holds until its lease ends",
				"token", tk.token, "error", err)
			return
		}
		have = false
		if backoff(ctx, attempt) != nil {
			break
		}
	}
	s.log.Warn("settling a launch's reservation lost every attempt; it holds until its lease ends", "token", tk.token)
}

// endedShared forgets terminated instances in the token's record.
func (l *Ledger) endedShared(ctx context.Context, tokenID string, ids []string) {
	s := l.shared
	mu := s.stripe(tokenID)
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; attempt < s.tries; attempt++ {
		u, ver, err := s.load(ctx, tokenID)
		if err != nil || ver == secrets.CreateOnly {
			return
		}
		n := len(u.Started)
		for _, id := range ids {
			delete(u.Started, id)
		}
		if len(u.Started) == n {
			return
		}
		u.prune(l.now())
		if _, err = s.save(ctx, tokenID, u, ver); !errors.Is(err, secrets.ErrConflict) {
			return
		}
		if backoff(ctx, attempt) != nil {
			return
		}
	}
}
