package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fakePools is the pools registry in memory, with the commit rules the
// store's adapter keeps.
type fakePools struct {
	mu      sync.Mutex
	states  map[string]State
	commits int
	removed []string
}

func (f *fakePools) Names(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.states {
		out = append(out, n)
	}
	return out, nil
}

func (f *fakePools) Get(_ context.Context, name string) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[name]
	if !ok {
		return State{}, apperr.New(apperr.NotFound, "no pool %s", name)
	}
	return st, nil
}

func (f *fakePools) Commit(_ context.Context, name string, c Commit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[name]
	if err := st.Apply(c); err != nil {
		return err
	}
	f.states[name] = st
	f.commits++
	return nil
}

func (f *fakePools) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.states, name)
	f.removed = append(f.removed, name)
	return nil
}

func (f *fakePools) state(name string) State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.states[name]
}

func (f *fakePools) setDemand(name string, d pool.Demand) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states[name]
	st.Demand = d
	f.states[name] = st
}

// fakeFleet is EC2 for one pool: a CreateFleet per new ClientToken, the
// same instances for a repeated one.
type fakeFleet struct {
	mu        sync.Mutex
	clock     *testclock.Clock
	instances []pool.Instance
	byToken   map[string][]string
	fleets    int // CreateFleets that started instances
	ended     []string
	launchErr error
	maxLaunch int    // the token's maxCount
	onList    func() // called as the instances are listed
}

func (f *fakeFleet) MaxLaunch(context.Context, pool.Pool) (int, error) { return f.maxLaunch, nil }

func (f *fakeFleet) Instances(context.Context, pool.Pool, pool.Demand) ([]pool.Instance, error) {
	if f.onList != nil {
		f.onList()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.Instance(nil), f.instances...), nil
}

func (f *fakeFleet) Launch(_ context.Context, p pool.Pool, pd Pending) (Launched, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.launchErr != nil {
		return Launched{}, f.launchErr
	}
	if ids, ok := f.byToken[pd.Launch.ClientToken]; ok {
		return Launched{Instances: ids, Replayed: true}, nil
	}
	if f.byToken == nil {
		f.byToken = map[string][]string{}
	}
	f.fleets++
	var ids []string
	for u := 0; u < pd.Launch.Capacity; u++ { // one weight-1 instance per unit
		id := fmt.Sprintf("i-%02d%02d", f.fleets, u)
		ids = append(ids, id)
		f.instances = append(f.instances, pool.Instance{ID: id, InstanceType: "c6i.large", State: pool.Booting, Capacity: 1,
			Launched: f.clock.Now(), Price: 0.03})
	}
	f.byToken[pd.Launch.ClientToken] = ids
	return Launched{Instances: ids, Units: len(ids)}, nil
}

func (f *fakeFleet) Terminate(_ context.Context, _ pool.Pool, ids []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, ids...)
	f.instances = remaining(f.instances, ids)
	return ids, nil
}

// set makes every instance state s (their agents registered and idle, say).
func (f *fakeFleet) set(s pool.State, since time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.instances {
		f.instances[i].State = s
		f.instances[i].IdleSince = since
	}
}

func testPool(t testing.TB) pool.Pool {
	p := pool.Pool{Name: "linux-ci", TokenID: "tok_abcdefghijklmnopqrst", Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}}, MaxCapacity: 20}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	return p
}

type rig struct {
	clock *testclock.Clock
	pools *fakePools
	fleet *fakeFleet
	store secrets.Store
	audit *syncBuf
}

func newRig(t testing.TB, st secrets.Store) *rig {
	clock := testclock.New(t0)
	p := testPool(t)
	return &rig{clock: clock, store: st, audit: &syncBuf{},
		pools: &fakePools{states: map[string]State{p.Name: {Pool: p, Incarnation: "inc1"}}},
		fleet: &fakeFleet{clock: clock}}
}

func (r *rig) reconciler(holder string) *Reconciler {
	return New(Config{Pools: r.pools, Lister: r.fleet, Launcher: r.fleet, Terminator: r.fleet, Store: r.store,
		Interval: 10 * time.Second, Now: r.clock.Now, Holder: holder, Audit: newLogger(r.audit)})
}

func embedded(t testing.TB) secrets.Store {
	t.Helper()
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger(w *syncBuf) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
