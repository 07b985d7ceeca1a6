package capability_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// listCounter counts LISTs by prefix.
type listCounter struct {
	store
	mu    sync.Mutex
	lists map[string]int
}

func (s *listCounter) List(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	s.lists[prefix]++
	s.mu.Unlock()
	return s.store.List(ctx, prefix)
}

// bucketStart is the start of a nonce expiry bucket, so cases can sit at
// its edges.
var bucketStart = time.Unix(1_800_000_000-1_800_000_000%60, 0).UTC()

// TestNonceSweepEdges: a nonce is refused again until its marker is swept,
// and a sweep deletes a marker only once its expiry bucket has ended
// NonceGrace ago or more: exactly at its expiry, or one past, it is kept;
// at a bucket's edge the marker expiring exactly at the next bucket's
// start belongs to that next bucket. Keyed; on both stores.
func TestNonceSweepEdges(t *testing.T) {
	end := bucketStart.Add(capability.NonceBucket) // the end of the bucket the cases' nonces are in
	tests := map[string]struct {
		until, sweepAt time.Time
		swept          bool
	}{
		"exactly at its expiry":                            {until: bucketStart.Add(30 * time.Second), sweepAt: bucketStart.Add(30 * time.Second)},
		"one past its expiry, its bucket not over":         {until: bucketStart.Add(30 * time.Second), sweepAt: bucketStart.Add(30*time.Second + time.Nanosecond)},
		"its bucket ended NonceGrace ago, less 1 ns":       {until: end.Add(-time.Nanosecond), sweepAt: end.Add(capability.NonceGrace - time.Nanosecond)},
		"its bucket ended exactly NonceGrace ago":          {until: end.Add(-time.Nanosecond), sweepAt: end.Add(capability.NonceGrace), swept: true},
		"expiring exactly at the next bucket's start":      {until: end, sweepAt: end.Add(capability.NonceGrace)},
		"expiring at the next bucket's start, that bucket": {until: end, sweepAt: end.Add(capability.NonceBucket + capability.NonceGrace), swept: true},
		"its bucket long over":                             {until: bucketStart, sweepAt: end.Add(time.Hour), swept: true},
	}
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			for name, tt := range tests {
				t.Run(name, func(t *testing.T) {
					log := slog.New(slog.DiscardHandler)
					st := open(t, log)
					clk := testclock.New(bucketStart.Add(-time.Minute))
					reg := newRegistry(t, st, clk, log)
					ctx := context.Background()
					// The store's first sweep marks it: no older markers.
					if _, err := reg.SweepNonces(ctx); err != nil {
						t.Fatal(err)
					}
					n := token.Nonce{ID: "n-" + strings.ReplaceAll(name, " ", "-"), Until: tt.until}
					if err := reg.Once(ctx, n); err != nil {
						t.Fatalf("first Once: %v", err)
					}
					if err := reg.Once(ctx, n); apperr.Code(err) != apperr.SignatureReplay {
						t.Fatalf("replay before any sweep = %v; want %s", err, apperr.SignatureReplay)
					}
					setClock(clk, tt.sweepAt)
					removed, err := reg.SweepNonces(ctx)
					if err != nil {
						t.Fatal(err)
					}
					_, err = st.Get(ctx, "nonces/"+n.ID)
					gone := errors.Is(err, secrets.ErrNotFound)
					if gone != tt.swept || (removed == 1) != tt.swept {
						t.Fatalf("sweep at %v of a nonce until %v: marker gone %t (%d removed); want %t",
							tt.sweepAt, tt.until, gone, removed, tt.swept)
					}
					if !tt.swept {
						if err := reg.Once(ctx, n); apperr.Code(err) != apperr.SignatureReplay {
							t.Fatalf("replay after the sweep kept its marker = %v; want %s", err, apperr.SignatureReplay)
						}
					}
				})
			}
		})
	}
}

// TestNonceOldLayout: markers an older release wrote at "nonces/<id>" (no
// bucket names them) still refuse their nonce; the first sweep deletes
// the expired ones, names the live ones in their buckets (swept when those
// end) and marks the store, after which no sweep lists "nonces/". Across
// two replicas, one nonce sent to both at once is accepted once. On both
// stores.
func TestNonceOldLayout(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			st := &listCounter{store: open(t, log), lists: map[string]int{}}
			clk := testclock.New(bucketStart)
			reg := newRegistry(t, st, clk, log)
			ctx := context.Background()
			old := func(id string, expires time.Time) {
				t.Helper()
				rec := secrets.Record{Public: []byte(`{"expires":"` + expires.Format(time.RFC3339Nano) + `"}`)}
				if _, err := st.Put(ctx, "nonces/"+id, rec, secrets.CreateOnly); err != nil {
					t.Fatal(err)
				}
			}
			old("expired", bucketStart.Add(-time.Nanosecond))
			old("at-expiry", bucketStart)
			old("live", bucketStart.Add(90*time.Second))
			if err := reg.Once(ctx, token.Nonce{ID: "live", Until: bucketStart.Add(90 * time.Second)}); apperr.Code(err) != apperr.SignatureReplay {
				t.Fatalf("a nonce an older release recorded = %v; want %s", err, apperr.SignatureReplay)
			}
			removed, err := reg.SweepNonces(ctx)
			if err != nil || removed != 1 {
				t.Fatalf("first sweep = %d, %v; want the 1 expired marker removed", removed, err)
			}
			for id, want := range map[string]bool{"expired": false, "at-expiry": true, "live": true} {
				if _, err := st.Get(ctx, "nonces/"+id); (err == nil) != want {
					t.Errorf("old marker %s kept = %t (%v); want %t", id, err == nil, err, want)
				}
			}
			// A second replica, started after the mark, never lists nonces/.
			other := newRegistry(t, st, clk, log)
			setClock(clk, bucketStart.Add(2*capability.NonceBucket+capability.NonceGrace))
			st.lists = map[string]int{}
			removed, err = other.SweepNonces(ctx)
			if err != nil || removed != 2 {
				t.Fatalf("sweep after the old markers' buckets ended = %d, %v; want 2", removed, err)
			}
			if st.lists["nonces/"] != 0 {
				t.Fatalf("a sweep on a marked store listed nonces/ %d times", st.lists["nonces/"])
			}
			if keys, err := st.List(ctx, "nonces/"); err != nil || len(keys) != 0 {
				t.Fatalf("markers left: %v, %v", keys, err)
			}

			var accepted atomic.Int32
			var wg sync.WaitGroup
			n := token.Nonce{ID: "both", Until: clk.Now().Add(5 * time.Minute)}
			for i := range 16 {
				wg.Go(func() {
					r := reg
					if i%2 == 1 {
						r = other
					}
					switch err := r.Once(ctx, n); {
					case err == nil:
						accepted.Add(1)
					case apperr.Code(err) != apperr.SignatureReplay:
						t.Errorf("Once: %v", err)
					}
				})
			}
			wg.Wait()
			if accepted.Load() != 1 {
				t.Fatalf("one nonce sent 16 times over two replicas was accepted %d times; want 1", accepted.Load())
			}
		})
	}
}

func setClock(clk *clock, t time.Time) { clk.Add(t.Sub(clk.Now())) }

// failingDeletes fails Delete of keys under prefix while fail is set.
type failingDeletes struct {
	store
	prefix string
	fail   atomic.Bool
}

func (s *failingDeletes) Delete(ctx context.Context, key string) error {
	if s.fail.Load() && strings.HasPrefix(key, s.prefix) {
		return secrets.ErrUnavailable
	}
	return s.store.Delete(ctx, key)
}

// TestNonceSweepRetries: a sweep that cannot delete a bucket's markers
// fails without moving on, and the next sweep deletes them. On both stores.
func TestNonceSweepRetries(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			st := &failingDeletes{store: open(t, log), prefix: "nonces/"}
			clk := testclock.New(bucketStart)
			reg := newRegistry(t, st, clk, log)
			ctx := context.Background()
			if _, err := reg.SweepNonces(ctx); err != nil {
				t.Fatal(err)
			}
			n := token.Nonce{ID: "retried", Until: bucketStart.Add(10 * time.Second)}
			if err := reg.Once(ctx, n); err != nil {
				t.Fatal(err)
			}
			setClock(clk, bucketStart.Add(capability.NonceBucket+capability.NonceGrace))
			st.fail.Store(true)
			if _, err := reg.SweepNonces(ctx); err == nil {
				t.Fatal("a sweep whose deletes failed reported no error")
			}
			st.fail.Store(false)
			clk.Add(time.Minute)
			if removed, err := reg.SweepNonces(ctx); err != nil || removed != 1 {
				t.Fatalf("next sweep = %d, %v; want the marker the failed sweep left", removed, err)
			}
			if _, err := st.Get(ctx, "nonces/"+n.ID); !errors.Is(err, secrets.ErrNotFound) {
				t.Fatalf("marker still there after the retry: %v", err)
			}
		})
	}
}
