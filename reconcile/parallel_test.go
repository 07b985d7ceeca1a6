package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestEachBounds: a pass takes at most limit pools however many run at
// once, skips pools another replica holds (errLost) and fills their
// slots with later ones, never runs more than Parallel at once, reports
// other errors, and with Parallel 1 goes in order.
func TestEachBounds(t *testing.T) {
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("p%02d", i)
	}
	lostEven := func(n string) error {
		if n[2]%2 == 0 {
			return errLost
		}
		return nil
	}
	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		parallel, limit int
		result          func(string) error
		wantTaken       int
		wantErrs        int
	}{
		"all mine, limit above":           {parallel: 8, limit: 25, result: func(string) error { return nil }, wantTaken: 20},
		"all mine, limit exactly all":     {parallel: 8, limit: 20, result: func(string) error { return nil }, wantTaken: 20},
		"all mine, limit one below":       {parallel: 8, limit: 19, result: func(string) error { return nil }, wantTaken: 19},
		"half held elsewhere":             {parallel: 8, limit: 7, result: lostEven, wantTaken: 7},
		"half held elsewhere, limit more": {parallel: 8, limit: 15, result: lostEven, wantTaken: 10},
		"limit zero":                      {parallel: 8, limit: 0, result: func(string) error { return nil }, wantTaken: 0},
		"errors reported, not taken":      {parallel: 3, limit: 20, result: func(n string) error { return map[bool]error{true: boom}[n == "p05"] }, wantTaken: 19, wantErrs: 1},
		"serial":                          {parallel: 1, limit: 5, result: func(string) error { return nil }, wantTaken: 5},
	} {
		t.Run(name, func(t *testing.T) {
			r := New(Config{Parallel: tc.parallel, Interval: time.Second})
			var mu sync.Mutex
			var order []string
			running, peak := 0, 0
			do := func(_ context.Context, n string) error {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				err := tc.result(n)
				mu.Lock()
				running--
				if err == nil {
					order = append(order, n)
				}
				mu.Unlock()
				return err
			}
			err := r.each(t.Context(), names, tc.limit, do)
			if got := len(order); got != tc.wantTaken {
				t.Errorf("took %d pools, want %d", got, tc.wantTaken)
			}
			if peak > tc.parallel {
				t.Errorf("%d ran at once, want at most %d", peak, tc.parallel)
			}
			if tc.parallel > 1 && tc.wantTaken > tc.parallel && peak < 2 {
				t.Errorf("never ran two at once (peak %d)", peak)
			}
			var n int
			if err != nil {
				n = len(err.(interface{ Unwrap() []error }).Unwrap())
				if !errors.Is(err, boom) {
					t.Errorf("err = %v, want it to carry the pool's error", err)
				}
			}
			if n != tc.wantErrs {
				t.Errorf("%d errors (%v), want %d", n, err, tc.wantErrs)
			}
			if tc.parallel == 1 && !slices.IsSorted(order) {
				t.Errorf("serial pass went out of order: %v", order)
			}
		})
	}
}

// TestLeaseTTLFollowsSlowPasses: a lease lasts two intervals, or two of
// the last full pass once a pass takes longer than an interval, so a pool
// whose turn comes late in a slow pass is still this replica's.
func TestLeaseTTLFollowsSlowPasses(t *testing.T) {
	const interval = 10 * time.Second
	for name, tc := range map[string]struct {
		lastPass, want time.Duration
	}{
		"no pass yet":                 {lastPass: 0, want: 2 * interval},
		"a quick pass":                {lastPass: interval / 10, want: 2 * interval},
		"a pass exactly an interval":  {lastPass: interval, want: 2 * interval},
		"a pass a tick over":          {lastPass: interval + time.Nanosecond, want: 2*interval + 2*time.Nanosecond},
		"a pass three intervals long": {lastPass: 3 * interval, want: 6 * interval},
	} {
		t.Run(name, func(t *testing.T) {
			l := &lease{interval: interval}
			l.lastPass.Store(int64(tc.lastPass))
			if got := l.ttl(); got != tc.want {
				t.Errorf("ttl = %s, want %s", got, tc.want)
			}
		})
	}
	// A full pass measures itself on the reconciler's clock.
	r := newRig(t, embedded(t))
	rc := r.reconciler("a")
	r.fleet.onList = func() { r.clock.Add(25 * time.Second) }
	if err := rc.Pass(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(rc.lease.lastPass.Load()); got != 25*time.Second {
		t.Errorf("the pass measured %s, want the 25s its listing took", got)
	}
	if got := rc.lease.ttl(); got != 50*time.Second {
		t.Errorf("ttl after it = %s, want 50s", got)
	}
}
