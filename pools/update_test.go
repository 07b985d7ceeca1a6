package pools_test

import (
	"context"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/pools"
)

// TestUpdatesAtOnce: many writers updating one pool at the same moment
// (demand reports on several replicas, pollers, the reconciler) all get
// through, each applied once, on both stores: the losers of a
// check-and-set wait a little at random and read again.
func TestUpdatesAtOnce(t *testing.T) {
	const writers = 24
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open)
			bg := context.Background()
			if _, err := f.reg.Create(bg, linuxCI(f.toks["plain"])); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for range writers {
				wg.Go(func() {
					_, err := f.reg.Update(bg, "linux-ci", func(r *pools.Record) error { r.Epoch++; return nil })
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("update: %v", err)
				}
			}
			rec, err := f.reg.Get(bg, "linux-ci")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Epoch != writers {
				t.Errorf("epoch = %d after %d increments, want each applied once", rec.Epoch, writers)
			}
		})
	}
}
