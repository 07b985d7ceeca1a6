package inflight

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

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
}

// NewShared returns a Ledger whose claims and recently started instances
// live in st under "usage/<token id>", guarded by check-and-set, so that
// maxRunning and maxHourlySpend hold across every replica sharing st.
// A claim is a lease: if its launch never settles it (the replica died),
// it stops counting at its end.
func NewShared(st Store, o SharedOptions) *Ledger {
	l := New(o.Recent, o.Now)
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
func (u *usage) count(listed []Instance, key string) (r Usage, settled bool) {
	seen := make(map[string]bool, len(listed))
	for _, in := range listed {
		r.Running++
		r.HourlySpend += in.Price
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
			r.InFlightRunning += c.Count
			r.InFlightSpend += c.Spend
		}
	}
	r.Running += r.InFlightRunning
	r.HourlySpend += r.InFlightSpend
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

// Expires is when the ticket's claim stops counting unless settled: the
// end of its lease on a shared ledger; zero when nothing lapses (a memory
// ledger, or a claim of nothing). A launch should not begin CreateFleet
// past it, since other replicas no longer count the claim.
func (tk *Ticket) Expires() time.Time {
	if tk == nil || tk.claim == "" {
		return time.Time{}
	}
	return time.Unix(0, tk.until)
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
