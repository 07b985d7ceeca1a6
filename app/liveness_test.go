package app

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/reconcile"
)

// TestSharedLiveness: Reported gives the heartbeats' busy and idle (not
// an instance that said nothing, nor another pool's), and the dangling
// check's List right after takes that listing once; the next List reads
// the store again and sees what changed.
func TestSharedLiveness(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.Embedded(t, nil)
	ls := liveness.New(st)
	now := time.Now().UTC()
	put := func(poolName, id, state string) {
		t.Helper()
		if err := ls.Update(ctx, poolName, id, func(r *liveness.Record) bool {
			r.BootstrappedAt, r.LastSeen, r.State = now, now, state
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("ci", "i-busy", liveness.StateBusy)
	put("ci", "i-idle", liveness.StateIdle)
	put("ci", "i-quiet", "")
	put("other", "i-else", liveness.StateBusy)
	s := newSharedLiveness(ls)
	got, err := s.Reported(ctx, pool.Pool{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"i-busy": reconcile.ReportedBusy, "i-idle": reconcile.ReportedIdle}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Reported = %v, want %v", got, want)
	}
	put("ci", "i-new", liveness.StateIdle)
	first, err := s.List(ctx, "ci")
	if err != nil || len(first) != 3 {
		t.Fatalf("the List after Reported: %d records, %v; want the 3 Reported listed", len(first), err)
	}
	second, err := s.List(ctx, "ci")
	if err != nil || len(second) != 4 {
		t.Fatalf("the next List: %d records, %v; want the store's 4", len(second), err)
	}
}

// TestSharedLivenessKeptFor: a kept listing serves a List just inside
// keptFor, and not at it.
func TestSharedLivenessKeptFor(t *testing.T) {
	ctx := context.Background()
	st, _ := storetest.Embedded(t, nil)
	ls := liveness.New(st)
	tests := map[string]struct {
		after time.Duration
		kept  bool
	}{
		"just inside": {keptFor - time.Millisecond, true},
		"at keptFor":  {keptFor, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			at := time.Now()
			s := newSharedLiveness(ls)
			s.now = func() time.Time { return at }
			if _, err := s.Reported(ctx, pool.Pool{Name: name}); err != nil {
				t.Fatal(err)
			}
			if err := ls.Update(ctx, name, "i-late", func(r *liveness.Record) bool { r.LastSeen = at; return true }); err != nil {
				t.Fatal(err)
			}
			at = at.Add(tc.after)
			recs, err := s.List(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if _, read := recs["i-late"]; read == tc.kept {
				t.Fatalf("after %v: read the store %v, want kept %v", tc.after, read, tc.kept)
			}
		})
	}
}
