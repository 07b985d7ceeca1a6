package reconcile

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

func vaultStore(t testing.TB) secrets.Store {
	srv := vaulttest.Shared(t)
	mount := vaulttest.Unique("reconcile")
	st, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: srv.Addr, Token: srv.Token, CACert: srv.CACert, KVMount: mount})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if err := srv.Client(t).Sys().Unmount(mount); err != nil {
			t.Logf("cleanup: unmount %s: %v", mount, err)
		}
	})
	return st
}

var stores = map[string]func(testing.TB) secrets.Store{
	"embedded": func(t testing.TB) secrets.Store { return embedded(t) },
	"vault":    vaultStore,
}

// TestLeaseEdges: the lease lasts two intervals from its last renewal;
// another holder takes it exactly at its end, not a nanosecond before.
func TestLeaseEdges(t *testing.T) {
	const ttl = 20 * time.Second
	tests := map[string]struct {
		after time.Duration
		// b takes the lease over; a, renewing after, then finds it lost.
		takenOver bool
	}{
		"at once":             {after: 0},
		"while it runs":       {after: ttl / 2},
		"one tick before end": {after: ttl - time.Nanosecond},
		"exactly at its end":  {after: ttl, takenOver: true},
		"after it has lapsed": {after: 3 * ttl, takenOver: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			now := t0
			clock := func() time.Time { return now }
			st := embedded(t)
			a := &lease{st: st, holder: "a", interval: ttl / 2, now: clock}
			b := &lease{st: st, holder: "b", interval: ttl / 2, now: clock}
			if _, err := a.acquire(context.Background(), "p"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(tc.after)
			_, err := b.acquire(context.Background(), "p")
			if tc.takenOver != (err == nil) || (err != nil && !errors.Is(err, errLost)) {
				t.Fatalf("b after %s: %v (want taken over: %v)", tc.after, err, tc.takenOver)
			}
			if _, err := a.acquire(context.Background(), "p"); tc.takenOver != errors.Is(err, errLost) {
				t.Errorf("a renewing after %s: %v (want lost: %v)", tc.after, err, tc.takenOver)
			}
		})
	}
}

// TestTwoReplicas: two reconcilers share one store and one pool; only the
// lease holder decides and launches. When it stops (killed: it renews no
// more), the other takes the pool over within three intervals and goes
// on from the same epoch, launching nothing twice.
func TestTwoReplicas(t *testing.T) {
	for storeName, open := range stores {
		t.Run(storeName, func(t *testing.T) {
			r := newRig(t, open(t))
			a, b := r.reconciler("a"), r.reconciler("b")
			r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
			for range 3 {
				for _, rc := range []*Reconciler{a, b} {
					if err := rc.Reconcile(context.Background(), name); err != nil && !errors.Is(err, errLost) {
						t.Fatal(err)
					}
				}
				r.clock.Add(10 * time.Second)
			}
			if r.fleet.fleets != 1 || len(r.fleet.instances) != 2 {
				t.Fatalf("%d fleets, %d instances: want one launch of 2", r.fleet.fleets, len(r.fleet.instances))
			}
			// a renewed last at t0+20s; it is killed now (t0+30s) and
			// demand grows. b must take over by a's last renewal + 3
			// intervals, and not before the lease ends.
			lastRenewal := t0.Add(20 * time.Second)
			r.pools.setDemand(name, pool.Demand{Pending: 5, At: r.clock.Now()})
			took := time.Time{}
			for range 4 {
				err := b.Reconcile(context.Background(), name)
				if err == nil {
					took = r.clock.Now()
					break
				}
				if !errors.Is(err, errLost) {
					t.Fatal(err)
				}
				r.clock.Add(10 * time.Second)
			}
			switch {
			case took.IsZero():
				t.Fatal("b never took the pool over")
			case took.Sub(lastRenewal) > 3*10*time.Second:
				t.Errorf("b took over %s after a's last renewal, want within 3 intervals", took.Sub(lastRenewal))
			case took.Before(lastRenewal.Add(20 * time.Second)):
				t.Errorf("b took over at %s, before a's lease ended", took)
			}
			if r.fleet.fleets != 2 || len(r.fleet.instances) != 5 || r.pools.state(name).Epoch != 2 {
				t.Errorf("after the takeover: %d fleets, %d instances, epoch %d; want 2, 5, 2",
					r.fleet.fleets, len(r.fleet.instances), r.pools.state(name).Epoch)
			}
			if _, ok := r.fleet.byToken[pool.ClientToken(name, "inc1", 1)]; !ok {
				t.Errorf("b's launch was not epoch 1's: %v", keys(r.fleet.byToken))
			}
		})
	}
}

// TestTakeoverFinishesPendingLaunch: the holder dies between persisting a
// launch and sending it; the next holder sends exactly that launch.
func TestTakeoverFinishesPendingLaunch(t *testing.T) {
	r := newRig(t, embedded(t))
	a, b := r.reconciler("a"), r.reconciler("b")
	a.cfg.crashAfter = crashAt("launched") // CreateFleet went out; a died before recording it
	r.pools.setDemand(name, pool.Demand{Pending: 3, At: t0})
	if err := a.Reconcile(context.Background(), name); !errors.Is(err, errCrash) {
		t.Fatalf("want the crash, got %v", err)
	}
	r.clock.Add(20 * time.Second)
	r.pools.setDemand(name, pool.Demand{Pending: 3, At: r.clock.Now()})
	if err := b.Reconcile(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if r.fleet.fleets != 1 || len(r.fleet.instances) != 3 || r.pools.state(name).Epoch != 1 {
		t.Errorf("%d fleets, %d instances, epoch %d: want 1, 3, 1", r.fleet.fleets, len(r.fleet.instances), r.pools.state(name).Epoch)
	}
}

// TestRunReleasesOnStop: a replica that stops cleanly gives its leases up,
// so another takes the pool over at once; a notified pass runs without
// waiting for the interval.
func TestRunReleasesOnStop(t *testing.T) {
	r := newRig(t, embedded(t))
	a, b := r.reconciler("a"), r.reconciler("b")
	a.cfg.Interval = time.Hour // only the first pass and notified ones run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.Notify(name)
		r.fleet.mu.Lock()
		n := r.fleet.fleets
		r.fleet.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a notified pass never launched")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Reconcile(context.Background(), name); !errors.Is(err, errLost) {
		t.Fatalf("b while a runs: %v, want the lease lost", err)
	}
	cancel()
	<-done
	if err := b.Reconcile(context.Background(), name); err != nil {
		t.Fatalf("b after a stopped: %v", err)
	}
}
