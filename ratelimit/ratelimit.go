// Package ratelimit limits a rate per key across every replica sharing a
// store: a token bucket per key, kept in the store and taken from under
// check-and-set, so that Burst calls at once and PerSecond after that hold
// for all replicas together, as they would for one.
//
// Each admitted call takes its token with a write: a replica cannot admit
// on its own, below the limit, without knowing how many replicas do the
// same, and replicas share nothing but the store (no membership). What the
// package saves instead:
//
//   - calls of one key that arrive on a replica while its write is under
//     way take their tokens together, in the next write (group commit);
//   - a replica writes on the bucket as it last wrote it, without reading
//     it first: check-and-set refuses the write if another replica wrote
//     since, and only then is it read;
//   - a call refused while the bucket this replica last saw is empty is
//     refused without any store call: others only ever take tokens, and
//     time refills the bucket alike for all, so the store's bucket holds
//     no more than that one — a flood past the limit costs the store
//     nothing.
package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/casretry"
	"github.com/spotter-dev/spotter/secrets"
)

// Store is the part of secrets.Store the limiter uses.
type Store interface {
	Get(ctx context.Context, key string) (secrets.Record, error)
	Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error)
}

// Limit is a token bucket: Burst calls at once, refilled at PerSecond.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Prefix is where the buckets live: Prefix + name + "/" + key.
const Prefix = "ratelimit/"

const (
	// tries bounds the check-and-set attempts of one batch.
	tries = 12
	// maxKeys is how many keys' buckets a replica remembers; past it,
	// idle ones are forgotten (their next call reads the bucket).
	maxKeys = 4096
)

// Limiter is safe for concurrent use.
type Limiter struct {
	st    Store
	name  string
	rate  float64
	burst float64
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*keyState
}

// New returns a limiter of lim whose buckets live in st under
// Prefix+name, or with st nil in memory, for this replica alone; now nil
// means time.Now.
func New(st Store, name string, lim Limit, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{st: st, name: name, rate: lim.PerSecond, burst: float64(max(1, lim.Burst)), now: now, keys: map[string]*keyState{}}
}

// Every is how often a token comes back.
func (l *Limiter) Every() time.Duration {
	if l.rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / l.rate)
}

// bucket is the record: Tokens left at At (unix ns).
type bucket struct {
	Tokens float64 `json:"tokens"`
	At     int64   `json:"at"`
}

// keyState is one key's calls waiting for a write and its bucket as this
// replica last wrote or read it. Limiter.mu guards it.
type keyState struct {
	pending []*call
	busy    bool // a leader is writing
	rec     bucket
	ver     int
	have    bool
}

// call is one Allow waiting for its batch.
type call struct {
	ok   bool
	wait time.Duration
	err  error
	// wake receives true when the call's batch is done, false when the
	// call leads the next batch.
	wake chan bool
}

// Allow takes one of key's tokens. ok false: the limit is reached, and
// wait is when a token will be there (at least a second). err: the store
// did not answer (apperr.Unavailable, with a Retry-After); the call is
// not admitted.
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, wait time.Duration, err error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	c := &call{wake: make(chan bool, 1)}
	l.mu.Lock()
	ks := l.state(key)
	if ks.have {
		if lvl := l.level(ks.rec, l.now()); lvl < 1 {
			l.mu.Unlock()
			return false, l.waitFor(lvl), nil
		}
	}
	ks.pending = append(ks.pending, c)
	lead := !ks.busy
	ks.busy = true
	l.mu.Unlock()
	if !lead && <-c.wake {
		return c.ok, c.wait, c.err
	}
	l.mu.Lock()
	batch := ks.pending
	ks.pending = nil
	l.mu.Unlock()
	l.commit(key, ks, batch)
	for _, b := range batch {
		if b != c {
			b.wake <- true
		}
	}
	l.mu.Lock()
	if len(ks.pending) > 0 {
		ks.pending[0].wake <- false
	} else {
		ks.busy = false
	}
	l.mu.Unlock()
	return c.ok, c.wait, c.err
}

// state returns key's state; l.mu held.
func (l *Limiter) state(key string) *keyState {
	if ks, ok := l.keys[key]; ok {
		return ks
	}
	if len(l.keys) >= maxKeys {
		for k, ks := range l.keys {
			if !ks.busy && len(ks.pending) == 0 {
				delete(l.keys, k)
			}
		}
	}
	ks := &keyState{}
	l.keys[key] = ks
	return ks
}

// level is the bucket's tokens at now.
func (l *Limiter) level(b bucket, now time.Time) float64 {
	elapsed := max(0, float64(now.UnixNano()-b.At)/float64(time.Second))
	return min(l.burst, b.Tokens+elapsed*l.rate)
}

// waitFor is how long until a bucket at lvl holds a whole token.
func (l *Limiter) waitFor(lvl float64) time.Duration {
	if l.rate <= 0 {
		return time.Hour
	}
	return max(time.Second, time.Duration((1-lvl)/l.rate*float64(time.Second)))
}

// commit takes the batch's tokens in one write: the first calls get those
// there are, the rest are refused.
func (l *Limiter) commit(key string, ks *keyState, batch []*call) {
	ctx := context.Background() // the store bounds each call (secrets.DefaultTimeout)
	path := Prefix + l.name + "/" + key
	for try := 0; try < tries; try++ {
		l.mu.Lock()
		rec, ver, have := ks.rec, ks.ver, ks.have
		l.mu.Unlock()
		if !have {
			var err error
			if rec, ver, err = l.load(ctx, path); err != nil {
				fail(batch, storeDown(err))
				return
			}
		}
		now := l.now()
		lvl := l.level(rec, now)
		took := min(len(batch), int(math.Floor(lvl)))
		if took == 0 {
			// Exact on a remembered bucket too: the store's holds no more.
			l.remember(ks, rec, ver)
			refuse(batch, l.waitFor(lvl))
			return
		}
		next := bucket{Tokens: lvl - float64(took), At: now.UnixNano()}
		v, err := l.save(ctx, path, next, ver)
		if err == nil {
			l.remember(ks, next, v)
			for _, c := range batch[:took] {
				c.ok = true
			}
			refuse(batch[took:], l.waitFor(next.Tokens))
			return
		}
		l.mu.Lock()
		ks.have = false
		l.mu.Unlock()
		if !errors.Is(err, secrets.ErrConflict) {
			fail(batch, storeDown(err))
			return
		}
		_ = casretry.Wait(ctx, try+2)
	}
	e := apperr.New(apperr.Unavailable, "too many calls at once across replicas to count them against the rate limit; retry in a second")
	e.RetryAfter = time.Second
	fail(batch, e)
}

func (l *Limiter) remember(ks *keyState, b bucket, ver int) {
	l.mu.Lock()
	ks.rec, ks.ver, ks.have = b, ver, true
	l.mu.Unlock()
}

// load reads a bucket with its version; a missing one is full.
func (l *Limiter) load(ctx context.Context, path string) (bucket, int, error) {
	if l.st == nil {
		return bucket{Tokens: l.burst, At: l.now().UnixNano()}, 0, nil
	}
	r, err := l.st.Get(ctx, path)
	if errors.Is(err, secrets.ErrNotFound) {
		return bucket{Tokens: l.burst, At: l.now().UnixNano()}, secrets.CreateOnly, nil
	}
	if err != nil {
		return bucket{}, 0, err
	}
	var b bucket
	if err := json.Unmarshal(r.Public, &b); err != nil {
		return bucket{}, 0, apperr.Wrap(err, apperr.Internal, "rate limit record %s is not valid", path)
	}
	return b, r.Version, nil
}

func (l *Limiter) save(ctx context.Context, path string, b bucket, cas int) (int, error) {
	if l.st == nil {
		return cas + 1, nil // in memory, this replica's write is the only one
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return 0, err
	}
	return l.st.Put(ctx, path, secrets.Record{Public: raw}, cas)
}

func refuse(batch []*call, wait time.Duration) {
	for _, c := range batch {
		c.ok, c.wait = false, wait
	}
}

func fail(batch []*call, err error) {
	for _, c := range batch {
		c.ok, c.err = false, err
	}
}

func storeDown(err error) error {
	if apperr.Code(err) == apperr.Unavailable {
		if apperr.RetryAfter(err) > 0 {
			return err
		}
		e := apperr.Wrap(err, apperr.Unavailable, "%s", apperr.Details(err))
		e.RetryAfter = 2 * time.Second
		return e
	}
	e := apperr.Wrap(err, apperr.Unavailable, "the store did not answer while counting this call against the rate limit; retry shortly")
	e.RetryAfter = 2 * time.Second
	return e
}
