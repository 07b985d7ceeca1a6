package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

// Store is the part of secrets.Store the lease uses: versioned records
// with check-and-set, the store's one primitive that holds across
// replicas (inflight's ledger and the TOTP guard use the same).
type Store interface {
	Get(ctx context.Context, key string) (secrets.Record, error)
	Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error)
	Delete(ctx context.Context, key string) error
}

// leaseRec is the record at leases/pools/<name>: who reconciles the pool
// until when, and the launch it decided and has not yet seen answered.
// Keeping the launch here makes persisting it a check-and-set on the
// lease itself: a replica whose lease was taken over cannot persist, so
// cannot launch, and the next holder reads what the last one left.
type leaseRec struct {
	Holder  string   `json:"holder"`
	Until   int64    `json:"until"` // unix ns
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a decided launch, persisted before CreateFleet is called.
// Everything CreateFleet is sent derives from it, so whoever carries it
// out again (this replica after a crash, or the next lease holder) sends
// the same request with the same ClientToken, and EC2 launches once.
type Pending struct {
	Incarnation string      `json:"incarnation"`
	Epoch       uint64      `json:"epoch"`
	At          time.Time   `json:"at"`
	Launch      pool.Launch `json:"launch"`
}

// lease is one replica's view of the pool leases.
type lease struct {
	st       Store
	holder   string
	interval time.Duration
	now      func() time.Time
	// lastPass is how long this replica's last full pass took (ns, on
	// the reconciler's clock).
	lastPass atomic.Int64
}

// ttl is how long a lease taken now lasts: two intervals, or two of the
// last full pass when passes take longer than an interval. A pool's turn
// comes round once per pass, so a lease shorter than the pass would
// lapse before its holder renews it on a busy machine, and another
// replica would take a pool its holder still works on. A dead replica's
// pools wait for the longer lease in exchange.
func (l *lease) ttl() time.Duration {
	return 2 * max(l.interval, time.Duration(l.lastPass.Load()))
}

// held is a lease this replica holds, at a store version.
type held struct {
	name string
	rec  leaseRec
	ver  int
}

func leaseKey(name string) string { return "leases/pools/" + name }

// errLost: another replica holds the lease (or took it over meanwhile).
var errLost = errors.New("reconcile: the pool's lease is another replica's")

// acquire takes or renews the pool's lease for ttl: free, lapsed or
// already ours. It returns errLost when another replica's lease runs.
func (l *lease) acquire(ctx context.Context, name string) (*held, error) {
	var rec leaseRec
	ver := secrets.CreateOnly
	r, err := l.st.Get(ctx, leaseKey(name))
	switch {
	case errors.Is(err, secrets.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(r.Public, &rec); err != nil {
			// A record we cannot read is taken over rather than left to
			// block the pool for ever.
			rec = leaseRec{}
		}
		ver = r.Version
	}
	now := l.now()
	if rec.Holder != l.holder && rec.Holder != "" && now.UnixNano() < rec.Until {
		return nil, errLost
	}
	rec.Holder, rec.Until = l.holder, now.Add(l.ttl()).UnixNano()
	h := &held{name: name, rec: rec, ver: ver}
	if err := l.save(ctx, h); err != nil {
		return nil, err
	}
	return h, nil
}

// save writes h's record with check-and-set on the version it read.
func (l *lease) save(ctx context.Context, h *held) error {
	b, err := json.Marshal(h.rec)
	if err != nil {
		return err
	}
	v, err := l.st.Put(ctx, leaseKey(h.name), secrets.Record{Public: b}, h.ver)
	if errors.Is(err, secrets.ErrConflict) {
		return errLost
	}
	if err != nil {
		return err
	}
	h.ver = v
	return nil
}

// live reports whether h still runs: past its end another replica may
// hold the pool, so nothing more is done under it.
func (l *lease) live(h *held) bool { return l.now().UnixNano() < h.rec.Until }

// setPending persists p (or clears it, nil) under the lease, refusing
// once the lease has lapsed.
func (l *lease) setPending(ctx context.Context, h *held, p *Pending) error {
	if !l.live(h) {
		return errLost
	}
	h.rec.Pending = p
	return l.save(ctx, h)
}

// release gives the lease up (on shutdown), so another replica need not
// wait for it to lapse. A pending launch stays for the next holder.
func (l *lease) release(ctx context.Context, h *held) {
	h.rec.Holder, h.rec.Until = "", 0
	_ = l.save(ctx, h)
}

// drop deletes the lease record of a pool that is gone, so no record
// outlives its pool. Another replica that reads it meanwhile finds no
// lease, takes one, finds no pool, and drops it in turn.
func (l *lease) drop(ctx context.Context, h *held) error {
	return l.st.Delete(ctx, leaseKey(h.name))
}
