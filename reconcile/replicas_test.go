package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

const interval = 10 * time.Second

// maxShare is the most pools of 200 one of three replicas takes: its
// fair part, ceil(200/3) = 67, plus a tenth of it as slack.
const maxShare = 73

func TestShare(t *testing.T) {
	tests := map[string]struct{ pools, live, want int }{
		"200 on 3":                {200, 3, 73},
		"200 on 2":                {200, 2, 110},
		"200 on 1":                {200, 1, 220},
		"one pool: slack of one":  {1, 3, 2},
		"9 on 3: exact, slack 1":  {9, 3, 4},
		"no live count: all here": {5, 0, 6},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := share(tc.pools, tc.live); got != tc.want {
				t.Errorf("share(%d, %d) = %d, want %d", tc.pools, tc.live, got, tc.want)
			}
		})
	}
}

// tally counts, per interval and pool, which replicas listed the pool's
// instances (a pass reaches Decide only after listing under its lease)
// and how many CreateFleets each pool was sent.
type tally struct {
	mu       sync.Mutex
	round    int
	decided  map[int]map[string][]string // round → pool → replicas that decided it
	launches map[string]int
}

func (t *tally) decide(holder, pool string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.decided[t.round] == nil {
		t.decided[t.round] = map[string][]string{}
	}
	t.decided[t.round][pool] = append(t.decided[t.round][pool], holder)
}

// fleetAt is one replica's view of EC2 for many pools: it notes each
// listing under the replica's name and starts one instance per unit of
// a launch, once per ClientToken.
type fleetAt struct {
	holder string
	t      *tally
	ec2    *manyFleets
}

type manyFleets struct {
	mu      sync.Mutex
	clock   *testclock.Clock
	byToken map[string]bool
	live    map[string][]pool.Instance
}

func (f *fleetAt) Instances(_ context.Context, p pool.Pool, _ pool.Demand) ([]pool.Instance, error) {
	f.t.decide(f.holder, p.Name)
	f.ec2.mu.Lock()
	defer f.ec2.mu.Unlock()
	return append([]pool.Instance(nil), f.ec2.live[p.Name]...), nil
}

func (f *fleetAt) Launch(_ context.Context, p pool.Pool, pd Pending) (Launched, error) {
	f.ec2.mu.Lock()
	defer f.ec2.mu.Unlock()
	if f.ec2.byToken[pd.Launch.ClientToken] {
		return Launched{Replayed: true}, nil
	}
	f.ec2.byToken[pd.Launch.ClientToken] = true
	f.t.mu.Lock()
	f.t.launches[p.Name]++
	f.t.mu.Unlock()
	var ids []string
	for u := range pd.Launch.Capacity {
		id := fmt.Sprintf("i-%s-%d", p.Name, u)
		ids = append(ids, id)
		f.ec2.live[p.Name] = append(f.ec2.live[p.Name], pool.Instance{ID: id, InstanceType: "c6i.large", State: pool.Booting,
			Capacity: 1, Launched: f.ec2.clock.Now(), Price: 0.03})
	}
	return Launched{Instances: ids, Units: len(ids)}, nil
}

func (f *fleetAt) Terminate(context.Context, pool.Pool, []string) ([]string, error) {
	return nil, errors.New("nothing should end: demand only grows here")
}

// countingStore counts lease writes.
type countingStore struct {
	Store
	puts atomic.Int64
}

func (s *countingStore) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	s.puts.Add(1)
	return s.Store.Put(ctx, key, rec, cas)
}

type farm struct {
	clock    *testclock.Clock
	pools    *fakePools
	t        *tally
	store    *countingStore
	replicas map[string]*Reconciler
}

// newFarm is n pools, each asking for one instance, and a reconciler per
// holder, all on one store and one fake clock.
func newFarm(tb testing.TB, st secrets.Store, n int, holders ...string) *farm {
	clock := testclock.New(t0)
	fp := &fakePools{states: map[string]State{}}
	for i := range n {
		p := testPool(tb)
		p.Name = fmt.Sprintf("pool-%03d", i)
		fp.states[p.Name] = State{Pool: p, Incarnation: "inc1", Demand: pool.Demand{Pending: 1, At: t0}}
	}
	f := &farm{clock: clock, pools: fp, store: &countingStore{Store: st}, replicas: map[string]*Reconciler{},
		t: &tally{decided: map[int]map[string][]string{}, launches: map[string]int{}}}
	ec2 := &manyFleets{clock: clock, byToken: map[string]bool{}, live: map[string][]pool.Instance{}}
	for _, h := range holders {
		fl := &fleetAt{holder: h, t: f.t, ec2: ec2}
		f.replicas[h] = New(Config{Pools: fp, Lister: fl, Launcher: fl, Terminator: fl, Store: f.store,
			Interval: interval, Now: clock.Now, Holder: h})
	}
	return f
}

// interval runs one pass of each named replica, all at once, then moves
// the clock on by an interval.
func (f *farm) interval(tb testing.TB, round int, holders ...string) {
	f.t.mu.Lock()
	f.t.round = round
	f.t.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(holders))
	for i, h := range holders {
		wg.Go(func() { errs[i] = f.replicas[h].Pass(context.Background(), "") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	f.clock.Add(interval)
}

// TestManyPoolsThreeReplicas: 200 pools, three replicas passing together
// each interval. No pool is ever decided twice in an interval; once the
// first passes' races are settled (they shed what is over their share),
// every pool is decided exactly once per interval, by the same replica,
// each within its share, and each pool is launched once. Then the replica holding most dies with its leases (no
// release): each of its pools is decided by nobody until its lease ends,
// is taken by a survivor within three intervals of c's last renewal, and
// from then on is decided exactly once per interval again.
func TestManyPoolsThreeReplicas(t *testing.T) {
	const pools, settle, before, after = 200, 2, 5, 6
	for storeName, open := range stores {
		t.Run(storeName, func(t *testing.T) {
			f := newFarm(t, open(t), pools, "a", "b", "c")
			for r := range before {
				f.interval(t, r, "a", "b", "c")
			}
			owner, spread := steadyOwners(t, f, settle, before)
			t.Logf("leases held by a, b, c: %d, %d, %d", spread["a"], spread["b"], spread["c"])
			for h, n := range spread {
				if n > maxShare {
					t.Errorf("%s holds %d pools, over its share %d", h, n, maxShare)
				}
			}
			f.launchedOnce(t, pools)
			// The replica holding most dies (which one won most races
			// varies from run to run); its last renewal was the last pass.
			dead, live := "c", []string{"a", "b"}
			if spread["a"] >= spread["b"] && spread["a"] >= spread["c"] {
				dead, live = "a", []string{"b", "c"}
			} else if spread["b"] >= spread["c"] {
				dead, live = "b", []string{"a", "c"}
			}
			taken := takeovers(t, f, owner, dead, live, before, before+after)
			// Its leases, renewed at its last pass, end two intervals on:
			// the first pass at or after that end takes each.
			lastRenewal := before - 1
			for name, h := range owner {
				if h != dead {
					continue
				}
				r, ok := taken[name]
				switch {
				case !ok:
					t.Errorf("%s: never taken over from %s", name, dead)
				case r-lastRenewal > 3:
					t.Errorf("%s: taken over %d intervals after the last renewal of %s, want within 3", name, r-lastRenewal, dead)
				case r-lastRenewal < 2:
					t.Errorf("%s: taken over %d interval(s) after the last renewal of %s, before its lease ended", name, r-lastRenewal, dead)
				}
			}
			f.launchedOnce(t, pools)
		})
	}
}

// steadyOwners checks rounds [0, before): at most one replica decides a
// pool in an interval; from settle on (the first passes race for free
// pools, then shed what is over their share) exactly one, and the same
// one. It returns who decides each pool and how many each decides.
func steadyOwners(t *testing.T, f *farm, settle, before int) (map[string]string, map[string]int) {
	t.Helper()
	owner := map[string]string{}
	for r := range before {
		for name := range f.pools.states {
			got := f.t.decided[r][name]
			switch {
			case len(got) > 1 || (r >= settle && len(got) != 1):
				t.Fatalf("interval %d: %s decided by %v, want exactly one replica", r, name, got)
			case r > settle && owner[name] != got[0]:
				t.Errorf("interval %d: %s moved from %s to %s while both lived", r, name, owner[name], got[0])
			}
			if r >= settle {
				owner[name] = got[0]
			}
		}
	}
	spread := map[string]int{}
	for _, h := range owner {
		spread[h]++
	}
	return owner, spread
}

// takeovers runs rounds [from, to) with only the live replicas and
// returns the round each pool dead held was first decided by another.
// The others' pools stay decided exactly once per interval throughout,
// and so do dead's from their takeover on.
func takeovers(t *testing.T, f *farm, owner map[string]string, dead string, live []string, from, to int) map[string]int {
	t.Helper()
	taken := map[string]int{}
	for r := from; r < to; r++ {
		f.interval(t, r, live...)
		for name := range f.pools.states {
			got := f.t.decided[r][name]
			_, was := taken[name]
			switch {
			case len(got) > 1 || (len(got) == 1 && got[0] == dead):
				t.Fatalf("interval %d: %s decided by %v, want one live replica", r, name, got)
			case owner[name] != dead && len(got) == 0:
				t.Errorf("interval %d: %s (held by %s) not decided", r, name, owner[name])
			case owner[name] == dead && was && len(got) == 0:
				t.Errorf("interval %d: %s not decided after its takeover", r, name)
			case owner[name] == dead && !was && len(got) == 1:
				taken[name] = r
			}
		}
	}
	return taken
}

// launchedOnce: every pool asked for one instance and got one CreateFleet.
func (f *farm) launchedOnce(t *testing.T, pools int) {
	t.Helper()
	for name, n := range f.t.launches {
		if n != 1 {
			t.Errorf("%s launched %d times, want once", name, n)
		}
	}
	if len(f.t.launches) != pools {
		t.Errorf("%d pools launched, want %d", len(f.t.launches), pools)
	}
}

// TestStaggeredStart: a starts alone and takes all 200 pools; b and c
// start an interval later. a gives up what is over its share, b and c
// take it, and within three intervals of their start every pool is
// decided exactly once per interval with each replica within its share.
// No pool is decided twice in any interval meanwhile.
func TestStaggeredStart(t *testing.T) {
	const pools, settle, rounds = 200, 3, 6
	f := newFarm(t, embedded(t), pools, "a", "b", "c")
	f.interval(t, 0, "a")
	if n := len(f.t.decided[0]); n != pools {
		t.Fatalf("a alone decided %d pools, want all %d", n, pools)
	}
	missed := 0
	for r := 1; r <= rounds; r++ {
		f.interval(t, r, "a", "b", "c")
		spread := map[string]int{}
		for name := range f.pools.states {
			got := f.t.decided[r][name]
			switch {
			case len(got) > 1:
				t.Fatalf("interval %d: %s decided by %v", r, name, got)
			case len(got) == 0 && r > settle:
				t.Errorf("interval %d: %s not decided after the replicas settled", r, name)
			case len(got) == 0:
				missed++
			default:
				spread[got[0]]++
			}
		}
		t.Logf("interval %d: a, b, c decided %d, %d, %d", r, spread["a"], spread["b"], spread["c"])
		for h, n := range spread {
			if r > settle && n > maxShare {
				t.Errorf("interval %d: %s decided %d pools, over its share %d", r, h, n, maxShare)
			}
		}
	}
	t.Logf("pool-intervals missed while settling: %d", missed)
}

// BenchmarkManyPoolsThreeReplicas: one op is one interval, three replicas
// passing together over 200 pools on one store, embedded or Vault (when
// VAULT_ADDR is set); leases held and
// shares settled: renewals, no launches).
func BenchmarkManyPoolsThreeReplicas(b *testing.B) {
	for storeName, open := range stores {
		b.Run(storeName, func(b *testing.B) { benchFarm(b, open(b)) })
	}
}

func benchFarm(b *testing.B, st secrets.Store) {
	const pools = 200
	f := newFarm(b, st, pools, "a", "b", "c")
	for r := range 3 { // leases taken, launches sent, shares settled
		f.interval(b, r, "a", "b", "c")
	}
	puts := f.store.puts.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.interval(b, 3, "a", "b", "c")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "intervals/s")
	b.ReportMetric(float64(b.N*pools)/b.Elapsed().Seconds(), "pool-passes/s")
	b.ReportMetric(float64(f.store.puts.Load()-puts)/float64(b.N), "lease-writes/interval")
	holders := map[string]int{}
	for name, got := range f.t.decided[3] {
		if len(got) != b.N {
			b.Fatalf("%s decided %d times in %d intervals", name, len(got), b.N)
		}
		for _, h := range got {
			holders[h]++
		}
	}
	keys := make([]string, 0, len(holders))
	for h := range holders {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	for _, h := range keys {
		b.ReportMetric(float64(holders[h])/float64(b.N), "pools-held-by-"+h)
	}
}
