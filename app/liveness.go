package app

import (
	"context"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/reconcile"
)

// sharedLiveness lets one reconcile pass read a pool's liveness records
// once: Classify reads the heartbeats' busy or idle (Reported), then the
// dangling check lists the same records. A listing Reported made is kept
// for the next List of that pool, once, if it comes within a second.
type sharedLiveness struct {
	*liveness.Store
	now  func() time.Time // time.Now; a test's clock
	mu   sync.Mutex
	kept map[string]keptListing
}

// keptFor is how long a listing Reported made is kept for List.
const keptFor = time.Second

type keptListing struct {
	at   time.Time
	recs map[string]liveness.Record
}

func newSharedLiveness(st *liveness.Store) *sharedLiveness {
	return &sharedLiveness{Store: st, now: time.Now, kept: map[string]keptListing{}}
}

// List implements reconcile.Liveness, taking a kept listing if fresh.
func (s *sharedLiveness) List(ctx context.Context, name string) (map[string]liveness.Record, error) {
	s.mu.Lock()
	k, ok := s.kept[name]
	delete(s.kept, name)
	s.mu.Unlock()
	if ok && s.now().Sub(k.at) < keptFor {
		return k.recs, nil
	}
	return s.Store.List(ctx, name)
}

// Reported implements reconcile.AWS.Reported: what each instance's last
// heartbeat said it was doing, when it said busy or idle.
func (s *sharedLiveness) Reported(ctx context.Context, p pool.Pool) (map[string]string, error) {
	recs, err := s.Store.List(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.kept[p.Name] = keptListing{at: s.now(), recs: recs}
	s.mu.Unlock()
	out := map[string]string{}
	for id, r := range recs {
		switch r.State {
		case liveness.StateBusy:
			out[id] = reconcile.ReportedBusy
		case liveness.StateIdle:
			out[id] = reconcile.ReportedIdle
		}
	}
	return out, nil
}
