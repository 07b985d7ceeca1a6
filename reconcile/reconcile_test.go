package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

const name = "linux-ci"

var errCrash = errors.New("crash")

// TestReconcile plays passes of one reconciler against fakes of the
// store's pool record and EC2; each case checks the fleet and the record
// after them.
func TestReconcile(t *testing.T) {
	type check struct {
		fleets, live, epoch int
		ended               []string
		pending             bool // a launch still persisted in the lease
	}
	tests := map[string]struct {
		run   func(t *testing.T, r *rig, rc *Reconciler)
		want  check
		audit string // in the audit log, when set
	}{
		"demand up launches its units once, under the epoch's token": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 3, At: t0})
				mustPass(t, rc)
				want := pool.ClientToken(name, "inc1", 0)
				if _, ok := r.fleet.byToken[want]; !ok {
					t.Errorf("launched under %v, want the token of epoch 0 %s", keys(r.fleet.byToken), want)
				}
				if got := r.pools.state(name).LastScaleOut; !got.Equal(t0) {
					t.Errorf("lastScaleOut %v, want %v", got, t0)
				}
			},
			want: check{fleets: 1, live: 3, epoch: 1},
		},
		"a repeated pass with the same demand changes nothing": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 3, At: t0})
				mustPass(t, rc)
				r.clock.Add(10 * time.Second)
				mustPass(t, rc)
				mustPass(t, rc)
				mustPass(t, rc)
				// The launch, then the first look at epoch 1: the passes
				// that find the pool as they left it audit at debug.
				if n := strings.Count(r.audit.String(), `"msg":"pool decision"`); n != 2 {
					t.Errorf("%d decisions audited at info, want 2:\n%s", n, r.audit)
				}
			},
			want: check{fleets: 1, live: 3, epoch: 1},
		},
		"demand down ends only idle instances, never busy ones": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 4, At: t0})
				mustPass(t, rc)
				r.clock.Add(5 * time.Minute)
				r.fleet.set(pool.Idle, t0.Add(2*time.Minute))
				r.fleet.instances[0].State, r.fleet.instances[1].State = pool.Busy, pool.Busy
				r.pools.setDemand(name, pool.Demand{Running: 2, At: r.clock.Now()})
				mustPass(t, rc)
			},
			want:  check{fleets: 1, live: 2, epoch: 1, ended: []string{"i-0102", "i-0103"}},
			audit: `"msg":"pool end","pool":"linux-ci","epoch":1,"end":[{"id":"i-0102","reason":"idle_timeout"},{"id":"i-0103","reason":"idle_timeout"}],"terminated":["i-0102","i-0103"]`,
		},
		"the token's maxCount caps one launch; the next pass launches the rest": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.fleet.maxLaunch = 2
				r.pools.setDemand(name, pool.Demand{Pending: 3, At: t0})
				mustPass(t, rc)
				if len(r.fleet.instances) != 2 {
					t.Fatalf("first launch started %d, want maxCount 2", len(r.fleet.instances))
				}
				mustPass(t, rc)
			},
			want: check{fleets: 2, live: 3, epoch: 2},
		},
		"a pass whose listing outlives the lease acts on nothing": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				r.fleet.onList = func() { r.clock.Add(20 * time.Second) } // the lease is two 10 s intervals
				if err := rc.Reconcile(context.Background(), name); !errors.Is(err, errLost) {
					t.Fatalf("got %v, want the lease lost", err)
				}
				r.fleet.onList = nil
			},
			want: check{},
		},
		"a listing that ends a tick before the lease does still acts": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				r.fleet.onList = func() { r.clock.Add(20*time.Second - time.Nanosecond) }
				mustPass(t, rc)
				r.fleet.onList = nil
			},
			want: check{fleets: 1, live: 2, epoch: 1},
		},
		"no room under the token's caps: nothing launches": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.fleet.maxLaunch = -1
				r.pools.setDemand(name, pool.Demand{Pending: 3, At: t0})
				mustPass(t, rc)
				mustPass(t, rc)
			},
			want: check{},
		},
		"stale demand holds: no launch, no scale-in": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				mustPass(t, rc)
				r.clock.Add(10 * time.Minute)
				r.fleet.set(pool.Idle, t0)
				mustPass(t, rc) // the same demand, 10 minutes old
			},
			want: check{fleets: 1, live: 2, epoch: 1},
		},
		"a crash after persisting, before CreateFleet: the next pass sends that launch": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				rc.cfg.crashAfter = crashAt("persisted")
				if err := rc.Reconcile(context.Background(), name); !errors.Is(err, errCrash) {
					t.Fatalf("want the crash, got %v", err)
				}
				rc.cfg.crashAfter = nil
				// Demand moved meanwhile: the persisted launch is sent as decided.
				r.pools.setDemand(name, pool.Demand{Pending: 5, At: t0})
				mustPass(t, rc)
				if ids := r.fleet.byToken[pool.ClientToken(name, "inc1", 0)]; len(ids) != 2 {
					t.Errorf("epoch 0's launch started %v, want the 2 units decided", ids)
				}
			},
			want: check{fleets: 1, live: 2, epoch: 1},
		},
		"a crash after CreateFleet, before the answer is recorded: the retry reuses the token": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				rc.cfg.crashAfter = crashAt("launched")
				if err := rc.Reconcile(context.Background(), name); !errors.Is(err, errCrash) {
					t.Fatalf("want the crash, got %v", err)
				}
				rc.cfg.crashAfter = nil
				mustPass(t, rc)
				if !strings.Contains(r.audit.String(), `"replayed":true`) {
					t.Errorf("the retry was not answered as a replay: %s", r.audit)
				}
			},
			want: check{fleets: 1, live: 2, epoch: 1},
		},
		"a launch EC2 may not have seen stays pending and is sent again": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 1, At: t0})
				r.fleet.launchErr = apperr.New(apperr.AWSUnavailable, "EC2 timed out")
				if err := rc.Reconcile(context.Background(), name); apperr.Code(err) != apperr.AWSUnavailable {
					t.Fatalf("got %v", err)
				}
				if st := r.pools.state(name); st.Epoch != 0 {
					t.Fatalf("epoch moved to %d on an unanswered launch", st.Epoch)
				}
				r.fleet.launchErr = nil
				mustPass(t, rc)
			},
			want: check{fleets: 1, live: 1, epoch: 1},
		},
		"a launch EC2 refused is an answer: the epoch moves on": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 1, At: t0})
				r.fleet.launchErr = apperr.New(apperr.CapacityUnavailable, "no capacity")
				if err := rc.Reconcile(context.Background(), name); apperr.Code(err) != apperr.CapacityUnavailable {
					t.Fatalf("got %v", err)
				}
				if st := r.pools.state(name); !st.LastScaleOut.IsZero() {
					t.Errorf("a launch that started nothing set the cooldown: lastScaleOut %v", st.LastScaleOut)
				}
			},
			want: check{epoch: 1},
		},
		"a pending launch of an earlier incarnation is dropped, not sent": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 1, At: t0})
				rc.cfg.crashAfter = crashAt("persisted")
				_ = rc.Reconcile(context.Background(), name)
				rc.cfg.crashAfter = nil
				r.pools.mu.Lock()
				st := r.pools.states[name]
				st.Incarnation, st.Demand = "inc2", pool.Demand{At: t0}
				r.pools.states[name] = st
				r.pools.mu.Unlock()
				mustPass(t, rc)
			},
			want: check{},
		},
		"a deleted pool drains its idle instances, then is removed": {
			run: func(t *testing.T, r *rig, rc *Reconciler) {
				r.pools.setDemand(name, pool.Demand{Pending: 2, At: t0})
				mustPass(t, rc)
				r.clock.Add(3 * time.Minute)
				r.fleet.set(pool.Idle, t0)
				r.pools.mu.Lock()
				st := r.pools.states[name]
				st.Deleted = true
				r.pools.states[name] = st
				r.pools.mu.Unlock()
				mustPass(t, rc)
				mustPass(t, rc)
				if !slices.Equal(r.pools.removed, []string{name}) {
					t.Errorf("removed %v", r.pools.removed)
				}
				if _, err := r.store.Get(context.Background(), leaseKey(name)); !errors.Is(err, secrets.ErrNotFound) {
					t.Errorf("the removed pool's lease record is still there: %v", err)
				}
				mustPass(t, rc) // a pass over a pool that is gone leaves no lease behind either
				if _, err := r.store.Get(context.Background(), leaseKey(name)); !errors.Is(err, secrets.ErrNotFound) {
					t.Errorf("a pass over the gone pool left a lease record: %v", err)
				}
			},
			want: check{fleets: 1, ended: []string{"i-0100", "i-0101"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, embedded(t))
			rc := r.reconciler("a")
			tc.run(t, r, rc)
			st := r.pools.state("linux-ci")
			h, err := rc.lease.acquire(context.Background(), "linux-ci")
			if err != nil {
				t.Fatal(err)
			}
			got := check{fleets: r.fleet.fleets, live: len(r.fleet.instances), epoch: int(st.Epoch), ended: r.fleet.ended, pending: h.rec.Pending != nil}
			if got.fleets != tc.want.fleets || got.live != tc.want.live || got.epoch != tc.want.epoch ||
				!slices.Equal(got.ended, tc.want.ended) || got.pending != tc.want.pending {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if tc.audit != "" && !strings.Contains(r.audit.String(), tc.audit) {
				t.Errorf("the audit log lacks %s:\n%s", tc.audit, r.audit)
			}
		})
	}
}

func crashAt(step string) func(string) error {
	return func(s string) error {
		if s == step {
			return errCrash
		}
		return nil
	}
}

func mustPass(t *testing.T, rc *Reconciler) {
	t.Helper()
	if err := rc.Reconcile(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
