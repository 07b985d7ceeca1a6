package reconcile

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
)

// fakeTagger records EC2's tags, or fails.
type fakeTagger struct {
	mu   sync.Mutex
	tags map[string]map[string]string
	err  error
}

func (f *fakeTagger) Tag(_ context.Context, _ pool.Pool, ids []string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for _, id := range ids {
		if f.tags[id] == nil {
			f.tags[id] = map[string]string{}
		}
		for k, v := range tags {
			f.tags[id][k] = v
		}
	}
	return nil
}

func (f *fakeTagger) Untag(_ context.Context, _ pool.Pool, ids []string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		for _, k := range keys {
			delete(f.tags[id], k)
		}
	}
	return nil
}

// danglingRig is a rig whose pool has a bootstrap template, with a
// Tagger that first refuses, the liveness store, and a pass that reports
// demand for 2 and returns its Observation.
func danglingRig(t *testing.T) (*rig, *fakeTagger, *liveness.Store, func() Observation) {
	t.Helper()
	r := newRig(t, embedded(t))
	st := r.pools.states["linux-ci"]
	st.Pool.Bootstrap = pool.BootstrapBuildkite
	r.pools.states["linux-ci"] = st
	tagger := &fakeTagger{tags: map[string]map[string]string{}, err: errors.New("EC2 CreateTags: throttled")}
	live := liveness.New(r.store)
	var obs []Observation
	rec := New(Config{Pools: r.pools, Lister: r.fleet, Launcher: r.fleet, Terminator: r.fleet, Store: r.store,
		Interval: 10 * time.Second, Now: r.clock.Now, Holder: "a", Audit: newLogger(r.audit),
		Liveness: live, Tagger: tagger, Observe: func(o Observation) { obs = append(obs, o) }})
	pass := func() Observation {
		t.Helper()
		r.pools.setDemand("linux-ci", pool.Demand{Pending: 2, At: r.clock.Now()})
		if err := rec.Pass(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		return obs[len(obs)-1]
	}
	return r, tagger, live, pass
}

// TestDanglingPasses: instances that never bootstrap are replaced at the
// pass that finds them; a tag EC2 refuses writes no mark, so the next
// pass finds them again; a pass a grace after the mark terminates them,
// counted by reason; the records of ended instances go.
func TestDanglingPasses(t *testing.T) {
	r, tagger, live, pass := danglingRig(t)
	pass()
	r.fleet.set(pool.Idle, time.Time{})
	first := slices.Clone(r.fleet.instances)

	r.clock.Add(10 * time.Minute) // bootTimeout
	if o := pass(); o.Dangling != 2 || o.Live != 0 || o.Launched != 2 {
		t.Fatalf("the pass that finds them: %+v; want 2 dangling, none counted, 2 launched", o)
	}
	checkUnmarked(t, live, first, r.audit.String())

	tagger.mu.Lock()
	tagger.err = nil
	tagger.mu.Unlock()
	r.fleet.set(pool.Idle, time.Time{})
	if o := pass(); o.Dangling != 2 || o.Launched != 0 || len(r.fleet.ended) != 0 {
		t.Fatalf("the pass that tags: %+v, ended %v", o, r.fleet.ended)
	}
	for _, in := range first {
		if tagger.tags[in.ID][TagDanglingReason] != DanglingNoBootstrap || tagger.tags[in.ID][TagDangling] != r.clock.Now().UTC().Format(time.RFC3339) {
			t.Errorf("%s tags %v", in.ID, tagger.tags[in.ID])
		}
	}

	r.clock.Add(time.Minute - time.Second) // the grace is the heartbeat interval, 1m
	if pass(); len(r.fleet.ended) != 0 {
		t.Fatalf("ended %v a second before the grace", r.fleet.ended)
	}
	r.clock.Add(time.Second)
	o := pass()
	if len(r.fleet.ended) != 2 || o.DanglingEnded[DanglingNoBootstrap] != 2 || o.Dangling != 0 {
		t.Fatalf("at the grace: ended %v, %+v", r.fleet.ended, o)
	}
	r.clock.Add(3 * time.Minute) // heartbeatTimeout after the mark
	pass()
	got, _ := live.List(context.Background(), "linux-ci")
	for _, in := range first {
		if _, ok := got[in.ID]; ok {
			t.Errorf("the record of ended %s kept", in.ID)
		}
	}
	if len(got) != 2 {
		t.Errorf("records %v; want the two replacements'", got)
	}
}

// checkUnmarked: after a refused tag, the four launched instances have
// their launch's records and no mark, and the refusal is audited.
func checkUnmarked(t *testing.T, live *liveness.Store, first []pool.Instance, audit string) {
	t.Helper()
	got, _ := live.List(context.Background(), "linux-ci")
	for _, in := range first {
		if rec := got[in.ID]; rec.LaunchedAt.IsZero() || !rec.DanglingSince.IsZero() {
			t.Errorf("%s: %+v; want the launch's record and no mark after a refused tag", in.ID, rec)
		}
	}
	if len(got) != 4 || !strings.Contains(audit, "throttled") {
		t.Fatalf("records %v (want the 4 launched), or the refused tag was not audited", got)
	}
}

// TestDanglingDrainForgets: a draining (deleted) pool drops a gone
// instance's record at once, and keeps a listed one's.
func TestDanglingDrainForgets(t *testing.T) {
	r, _, live, pass := danglingRig(t)
	pass()
	seen := r.clock.Now()
	if err := live.Update(context.Background(), "linux-ci", "i-0000000000000009", func(rec *liveness.Record) bool {
		rec.BootstrappedAt, rec.LastSeen = seen, seen
		return true
	}); err != nil {
		t.Fatal(err)
	}
	st := r.pools.state("linux-ci")
	st.Pool.Draining = true
	r.pools.mu.Lock()
	r.pools.states["linux-ci"] = st
	r.pools.mu.Unlock()
	pass()
	if got, _ := live.List(context.Background(), "linux-ci"); len(got) != 2 || got["i-0000000000000009"] != (liveness.Record{}) {
		t.Errorf("a draining pool kept a gone instance's record: %v", got)
	}
}
