package reconcile

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/spotter-dev/spotter/secrets"
)

// replicasKey holds the live replicas: each one's name and when its
// entry lapses. Every full pass renews this replica's entry, so a
// replica that holds no lease yet still counts towards the share.
const replicasKey = "leases/replicas"

// share is how many pools one replica takes in a pass: its fair part of
// n among the live replicas, plus a little slack so that small races
// over free pools do not make leases change hands.
func share(n, live int) int {
	if live < 1 {
		live = 1
	}
	s := (n + live - 1) / live
	return s + max(1, s/10)
}

// liveReplicas renews this replica's entry (or, gone, removes it) and
// counts the entries that have not lapsed, this one included.
func (r *Reconciler) liveReplicas(ctx context.Context, gone bool) (int, error) {
	for range 12 { // check-and-set: another replica may write first
		live := map[string]int64{}
		ver := secrets.CreateOnly
		rec, err := r.cfg.Store.Get(ctx, replicasKey)
		switch {
		case errors.Is(err, secrets.ErrNotFound):
		case err != nil:
			return 0, err
		default:
			_ = json.Unmarshal(rec.Public, &live) // unreadable: rebuilt from scratch
			ver = rec.Version
		}
		now := r.cfg.Now()
		for h, until := range live {
			if now.UnixNano() >= until {
				delete(live, h)
			}
		}
		if gone {
			delete(live, r.cfg.Holder)
		} else {
			live[r.cfg.Holder] = now.Add(r.lease.ttl()).UnixNano()
		}
		b, err := json.Marshal(live)
		if err != nil {
			return 0, err
		}
		_, err = r.cfg.Store.Put(ctx, replicasKey, secrets.Record{Public: b}, ver)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return len(live), err
	}
	return 0, errors.New("reconcile: the replicas record kept changing under its check-and-set")
}

// balance orders a full pass: the pools this replica holds first (up to
// its share; the rest it gives up, for a replica under its share to
// take), then pools it may take while under its share.
func (r *Reconciler) balance(ctx context.Context, names []string) (keep, shed []string, limit int) {
	live, err := r.liveReplicas(ctx, false)
	if err != nil {
		r.cfg.Log.Error("pool reconcile: counting replicas", "error", err)
		return names, nil, len(names) // unbalanced rather than undecided
	}
	limit = share(len(names), live)
	r.mu.Lock()
	defer r.mu.Unlock()
	var others []string
	for _, n := range names {
		switch _, mine := r.held[n]; {
		case mine && len(keep) < limit:
			keep = append(keep, n)
		case mine:
			shed = append(shed, n)
		default:
			others = append(others, n)
		}
	}
	return append(keep, others...), shed, limit
}

// shed gives up the leases of pools over this replica's share.
func (r *Reconciler) shed(ctx context.Context, names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if h, ok := r.held[n]; ok {
			r.lease.release(ctx, h)
			delete(r.held, n)
		}
	}
}
