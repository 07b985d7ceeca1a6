package inflight

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// ec2 stands in for a token's live instances as EC2 lists them, and counts
// the listings.
type ec2 struct {
	mu    sync.Mutex
	live  map[string]api.Instance
	lists int
}

func newEC2(n int) *ec2 {
	e := &ec2{live: map[string]api.Instance{}}
	for i := range n {
		id := fmt.Sprintf("i-old-%d", i)
		e.live[id] = inst(id, 0.01, "")
	}
	return e
}

func (e *ec2) list(context.Context) ([]api.Instance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lists++
	out := make([]api.Instance, 0, len(e.live))
	for _, in := range e.live {
		out = append(out, in)
	}
	return out, nil
}

func (e *ec2) start(ins ...api.Instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, in := range ins {
		e.live[in.ID] = in
	}
}

func (e *ec2) end(ids ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		delete(e.live, id)
	}
}

func (e *ec2) listings() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lists
}

// TestAdmitListingKeepsTheCount: with the count kept, a launch lists the
// token's instances only when the count is missing, old, or may have
// missed an end, and before a refusal; the caps hold exactly, at the
// limit and one past it, on both ledgers and across two replicas.
func TestAdmitListingKeepsTheCount(t *testing.T) {
	const live = 1000
	type env struct {
		t    *testing.T
		clk  *testclock.Clock
		ec2  *ec2
		reps [2]*Ledger
		n    int
	}
	// launch admits one instance on replica r under maxRunning max and,
	// when admitted, starts it in EC2 and settles it.
	launch := func(e *env, r, max int) error {
		e.n++
		key := fmt.Sprintf("k%d", e.n)
		tk, err := e.reps[r].AdmitListing(context.Background(), "tokA", key, "r1", e.ec2.list, capAt(max, 1, 0))
		if err != nil {
			return err
		}
		in := inst(fmt.Sprintf("i-new-%d", e.n), 0.01, key)
		e.ec2.start(in)
		tk.Done([]api.Instance{in})
		return nil
	}
	type step struct {
		do       func(e *env) error
		want     bool // admitted (for launches)
		listings int  // EC2 listings so far
	}
	admit := func(r, max int, want bool, listings int) step {
		return step{do: func(e *env) error { return launch(e, r, max) }, want: want, listings: listings}
	}
	other := func(f func(e *env), listings int) step {
		return step{do: func(e *env) error { f(e); return nil }, want: true, listings: listings}
	}
	tests := map[string][]step{
		"one listing, then the kept count up to the cap exactly": {
			admit(0, live+3, true, 1), admit(1, live+3, true, 1), admit(0, live+3, true, 1),
			// one past it: refused, after a listing that confirms it
			admit(1, live+3, false, 2),
		},
		"instances that ended on their own: a refusal lists and admits": {
			admit(0, live+1, true, 1),
			other(func(e *env) { e.ec2.end("i-old-1", "i-old-2") }, 1),
			admit(0, live+1, true, 2), // kept count says full; EC2 shows two free
			admit(1, live+1, true, 2),
			admit(0, live+1, false, 3),
		},
		"a terminate makes the next launch list": {
			admit(0, live+1, true, 1),
			other(func(e *env) {
				e.ec2.end("i-old-7")
				e.reps[1].Ended(context.Background(), "tokA", []string{"i-old-7"})
			}, 1),
			admit(0, live+1, true, 2),
			admit(1, live+2, true, 2),
		},
		"the count is trusted for DefaultMaxAge": {
			admit(0, live+10, true, 1),
			other(func(e *env) { e.clk.Add(DefaultMaxAge - time.Second) }, 1),
			admit(1, live+10, true, 1),
			other(func(e *env) { e.clk.Add(time.Second) }, 1),
			admit(0, live+10, true, 2),
		},
	}
	// Only a shared ledger's claims lapse (a replica dies); in memory a
	// claim holds until Done.
	lapse := []step{
		admit(0, live+5, true, 1),
		other(func(e *env) {
			// A replica admits, starts an instance in EC2, and dies
			// before it settles; its lease (30 s) lapses.
			if _, err := e.reps[1].AdmitListing(context.Background(), "tokA", "dead", "r1", e.ec2.list, capAt(live+5, 1, 0)); err != nil {
				e.t.Fatal(err)
			}
			e.ec2.start(inst("i-dead", 0, "dead"))
			e.clk.Add(31 * time.Second)
		}, 1),
		admit(0, live+5, true, 2), // lists: 1,002 running, this one the 1,003rd
		admit(1, live+5, true, 2),
		admit(0, live+5, true, 2), // exactly at 1,005
		admit(1, live+5, false, 3),
	}
	for kind, newReps := range map[string]func(t *testing.T, clk *testclock.Clock) [2]*Ledger{
		"memory": func(_ *testing.T, clk *testclock.Clock) [2]*Ledger {
			l := New(0, clk.Now)
			return [2]*Ledger{l, l}
		},
		"shared": func(t *testing.T, clk *testclock.Clock) [2]*Ledger {
			st := embedded(t)
			o := SharedOptions{Lease: 30 * time.Second, Now: clk.Now}
			return [2]*Ledger{NewShared(st, o), NewShared(st, o)}
		},
	} {
		cases := maps.Clone(tests)
		if kind == "shared" {
			cases["a claim that lapses unsettled makes the next launch list"] = lapse
		}
		for name, steps := range cases {
			t.Run(kind+"/"+name, func(t *testing.T) {
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				e := &env{t: t, clk: clk, ec2: newEC2(live), reps: newReps(t, clk)}
				for i, s := range steps {
					err := s.do(e)
					if (err == nil) != s.want {
						t.Fatalf("step %d: %v; want admitted %v", i, err, s.want)
					}
					if err != nil && !errors.Is(err, errFull) {
						t.Fatalf("step %d: %v; want the check's refusal", i, err)
					}
					if got := e.ec2.listings(); got != s.listings {
						t.Fatalf("step %d: %d listings so far; want %d", i, got, s.listings)
					}
				}
			})
		}
	}
}

// TestLaunchesShareAListing: launches of a token that need a listing while
// one is under way (judged no later than it started) wait for it rather
// than each listing every instance again; each is still checked exactly.
func TestLaunchesShareAListing(t *testing.T) {
	for kind, newLedger := range map[string]func(t *testing.T, clk *testclock.Clock) *Ledger{
		"memory": func(_ *testing.T, clk *testclock.Clock) *Ledger { return New(0, clk.Now) },
		"shared": func(t *testing.T, clk *testclock.Clock) *Ledger {
			return NewShared(embedded(t), SharedOptions{Now: clk.Now})
		},
	} {
		t.Run(kind, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			l := newLedger(t, clk)
			e := newEC2(10)
			entered, release := make(chan struct{}, 8), make(chan struct{})
			gate := func(ctx context.Context) ([]api.Instance, error) {
				entered <- struct{}{}
				<-release
				return e.list(ctx)
			}
			var wg sync.WaitGroup
			var admitted, refused atomic.Int32
			start := func(i int) {
				wg.Go(func() {
					_, err := l.AdmitListing(context.Background(), "tokA", fmt.Sprintf("k%d", i), "r1", gate, capAt(15, 1, 0))
					switch {
					case err == nil:
						admitted.Add(1)
					case errors.Is(err, errFull):
						refused.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			start(0)
			<-entered
			for i := 1; i < 8; i++ {
				start(i)
			}
			// The seven join the listing under way (one that did not would
			// enter the gate, and be counted below).
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
				l.shared.mu.Lock()
				w := 0
				if q := l.shared.queues["tokA"]; q != nil && q.listing != nil {
					w = q.listing.waiters
				}
				l.shared.mu.Unlock()
				if w == 7 || len(entered) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d launches joined the listing", w)
				}
			}
			close(release)
			wg.Wait()
			close(entered)
			extra := 0
			for range entered {
				extra++
			}
			if n := e.listings(); n != 1 || extra != 0 {
				t.Fatalf("%d listings for 8 launches at once; want 1", n+extra)
			}
			if admitted.Load() != 5 || refused.Load() != 3 {
				t.Fatalf("%d admitted, %d refused beside 10 running under maxRunning 15; want 5 and 3", admitted.Load(), refused.Load())
			}
		})
	}
}

// TestKeptCountIsPerScope: a count listed in one region is not used for a
// launch in another: that launch lists its own region, and a launch back
// in the first lists it again. (Instances started but not listed yet count
// in every region, as they always have: the record is the token's.)
func TestKeptCountIsPerScope(t *testing.T) {
	clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	l := NewShared(embedded(t), SharedOptions{Now: clk.Now})
	east, west := newEC2(3), newEC2(0)
	for i, tt := range []struct {
		scope    string
		ec2      *ec2
		max      int
		want     bool
		listings [2]int
	}{
		{"us-east-1", east, 4, true, [2]int{1, 0}},  // 3 listed + this one
		{"us-west-2", west, 2, true, [2]int{1, 1}},  // east's count not taken: 0 listed, 1 started in east, this one
		{"us-east-1", east, 6, true, [2]int{2, 1}},  // listed again: 4, 1 started in west, this one
		{"us-east-1", east, 6, false, [2]int{3, 1}}, // one past it: the refusal lists first
	} {
		key := fmt.Sprintf("k%d", i)
		tk, err := l.AdmitListing(context.Background(), "tokA", key, tt.scope, tt.ec2.list, capAt(tt.max, 1, 0))
		if (err == nil) != tt.want {
			t.Fatalf("launch %d in %s: %v; want admitted %v", i, tt.scope, err, tt.want)
		}
		if err == nil {
			in := inst("i-"+key, 0, key)
			tt.ec2.start(in)
			tk.Done([]api.Instance{in})
		}
		if got := [2]int{east.listings(), west.listings()}; got != tt.listings {
			t.Fatalf("launch %d: listings (east, west) %v; want %v", i, got, tt.listings)
		}
	}
}
