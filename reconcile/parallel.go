package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// DefaultParallel pools at once: measured with 200 pools on three serve
// processes over a Vault Raft cluster, a serial pass over a replica's
// ~70 pools took longer than the two intervals its first leases last.
const DefaultParallel = 8

// each runs do (Reconcile) over names in order, up to cfg.Parallel at once, and stops
// starting pools once limit of them have been taken. A pool is started
// only while taken + running < limit, so the pass never takes more than
// limit even though it cannot know in advance which pools another
// replica holds (those return errLost and free their slot).
func (r *Reconciler) each(ctx context.Context, names []string, limit int, do func(context.Context, string) error) error {
	var (
		mu      sync.Mutex
		changed = sync.NewCond(&mu)
		taken   int
		running int
		errs    []error
	)
	mu.Lock()
	for _, name := range names {
		for running > 0 && (running >= r.cfg.Parallel || taken+running >= limit) {
			changed.Wait()
		}
		if taken >= limit || ctx.Err() != nil {
			break
		}
		running++
		go func() {
			err := do(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			running--
			switch {
			case err == nil:
				taken++
			case !errors.Is(err, errLost):
				errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			}
			changed.Broadcast()
		}()
	}
	for running > 0 {
		changed.Wait()
	}
	mu.Unlock()
	return errors.Join(errs...)
}
