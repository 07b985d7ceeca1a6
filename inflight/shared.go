package inflight

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
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

// unseen is the bound on a record's Started that makes a launch list
// (usage): a shared ledger's record is written whole on every change, a
// memory ledger's costs nothing to keep.
func (s *shared) unseen() int {
	if s.st == nil {
		return noUnseenBound
	}
	return maxUnseen
}
