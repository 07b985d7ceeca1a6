package inflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// replicaSets are the ledgers the identity tests run on: two replicas
// each. The memory ledger is one replica, so both are the same ledger;
// the shared ones are two ledgers on one store (embedded bbolt, and the
// real Vault when VAULT_ADDR names one).
func replicaSets(t *testing.T) map[string]func(t *testing.T, clk *testclock.Clock) [2]*Ledger {
	shared := func(st func(t *testing.T) secrets.Store) func(*testing.T, *testclock.Clock) [2]*Ledger {
		return func(t *testing.T, clk *testclock.Clock) [2]*Ledger {
			s := st(t)
			o := SharedOptions{Lease: time.Minute, Now: clk.Now}
			return [2]*Ledger{NewShared(s, o), NewShared(s, o)}
		}
	}
	return map[string]func(*testing.T, *testclock.Clock) [2]*Ledger{
		"memory": func(_ *testing.T, clk *testclock.Clock) [2]*Ledger {
			l := New(0, clk.Now)
			return [2]*Ledger{l, l}
		},
		"shared/embedded": shared(func(t *testing.T) secrets.Store { return embedded(t) }),
		"shared/vault":    shared(func(t *testing.T) secrets.Store { return vaultStore(t) }),
	}
}

// TestOneReservationPerLaunch: maxRunning is 3 and two instances are
// listed, so one launch of one instance fits exactly. A retry of that
// launch (same key) must join its reservation, on either replica, and not
// be refused; a launch with another key is one past the cap.
func TestOneReservationPerLaunch(t *testing.T) {
	const max = 3
	listed := []api.Instance{inst("i-l1", 0.1, ""), inst("i-l2", 0.1, "")}
	i1 := inst("i-new", 0.1, "")
	type step struct {
		// admit: ticket name, replica, key, count; want the check to see
		// running (when ≥ 0) and admitted or not.
		name, key   string
		replica     int
		count       int
		seeRunning  int
		want        bool
		done        string         // instead of an admit: this ticket's Done
		started     []api.Instance // with done
		wait        time.Duration
		wantExpires bool
	}
	admit := func(name string, replica int, key string, count, seeRunning int, want bool) step {
		return step{name: name, replica: replica, key: key, count: count, seeRunning: seeRunning, want: want}
	}
	done := func(name string, started ...api.Instance) step { return step{done: name, started: started} }
	tests := map[string][]step{
		"a retry racing its first try at the cap joins it": {
			admit("first", 0, "k1", 1, 2, true),
			admit("retry", 1, "k1", 1, 2, true),
			admit("other", 0, "k2", 1, 3, false),
		},
		"exactly at the cap with the retry racing; one past refused": {
			step{name: "first", replica: 0, key: "k1", count: 1, seeRunning: 2, want: true},
			admit("retry", 1, "k1", 1, 2, true),
			admit("retry2", 0, "k1", 1, 2, true),
			admit("other", 1, "k2", 1, 3, false),
			done("retry2"),
			admit("other", 1, "k2", 1, 3, false),
		},
		"the retry ending first keeps the first try's claim": {
			admit("first", 0, "k1", 1, 2, true),
			admit("retry", 1, "k1", 1, 2, true),
			done("retry"),
			admit("other", 0, "k2", 1, 3, false),
			done("first"),
			admit("other", 0, "k2", 1, 2, true),
		},
		"the first try ending first keeps the retry's claim": {
			admit("first", 0, "k1", 1, 2, true),
			admit("retry", 1, "k1", 1, 2, true),
			done("first"),
			admit("other", 1, "k2", 1, 3, false),
			done("retry"),
			admit("other", 1, "k2", 1, 2, true),
		},
		"started instances settle the launch for every attempt, counted once": {
			admit("first", 0, "k1", 1, 2, true),
			admit("retry", 1, "k1", 1, 2, true),
			done("first", i1),
			admit("other", 0, "k2", 1, 3, false),
			done("retry", i1),
			admit("other", 1, "k2", 1, 3, false),
		},
		"a retry after EC2 answered, before the listing shows it, holds nothing new": {
			admit("first", 0, "k1", 1, 2, true),
			done("first", i1),
			admit("retry", 1, "k1", 1, 2, true),
			admit("other", 0, "k2", 1, 3, false),
			done("retry", i1),
			admit("other", 0, "k2", 1, 3, false),
		},
		"a retry asking for more is checked for the difference": {
			admit("first", 0, "k1", 1, 2, true),
			admit("retry", 1, "k1", 2, 2, false),
		},
		"another launch after the recent period fits again": {
			admit("first", 0, "k1", 1, 2, true),
			done("first", i1),
			{wait: DefaultRecent},
			admit("other", 1, "k2", 1, 2, true),
		},
		"a joined attempt has a lease of its own": {
			{name: "first", replica: 0, key: "k1", count: 1, seeRunning: 2, want: true},
			{wait: 30 * time.Second},
			{name: "retry", replica: 1, key: "k1", count: 1, seeRunning: 2, want: true, wantExpires: true},
			{wait: 30 * time.Second}, // the first try's lease lapsed (a dead replica)
			admit("other", 0, "k2", 1, 3, false),
			{wait: 30 * time.Second}, // and the retry's
			admit("other", 0, "k2", 1, 2, true),
		},
	}
	leased := map[string]bool{"a joined attempt has a lease of its own": true}
	for kind, newReplicas := range replicaSets(t) {
		for name, steps := range tests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				if kind == "shared/vault" {
					requireVault(t)
				}
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				reps := newReplicas(t, clk)
				memory := reps[0] == reps[1]
				if memory && leased[name] {
					t.Skip("the memory ledger has no leases: its launches end in this process")
				}
				tickets := map[string]*Ticket{}
				for i, s := range steps {
					switch {
					case s.wait > 0:
						clk.Add(s.wait)
						continue
					case s.done != "":
						tickets[s.done].Done(s.started)
						continue
					}
					var saw Counted
					tk, err := reps[s.replica].Admit(context.Background(), "tokA", s.key, listed, func(u Counted) (Claim, error) {
						saw = u
						if u.Running+s.count > max {
							return Claim{}, errFull
						}
						return Claim{Count: s.count}, nil
					})
					if got := err == nil; got != s.want {
						t.Fatalf("step %d (%s, key %s): Admit = %v; want admitted %v (check saw %+v)", i, s.name, s.key, err, s.want, saw)
					}
					if err != nil && !errors.Is(err, errFull) {
						t.Fatalf("step %d: Admit = %v; want the check's refusal", i, err)
					}
					if saw.Running != s.seeRunning {
						t.Fatalf("step %d (%s, key %s): check saw %d running; want %d (%+v)", i, s.name, s.key, saw.Running, s.seeRunning, saw)
					}
					if s.wantExpires && !memory {
						if got, want := tk.Expires(), clk.Now().Add(time.Minute); !got.Equal(want) {
							t.Fatalf("step %d: a joined attempt's lease ends %v; want its own, %v", i, got, want)
						}
					}
					if err == nil {
						tickets[s.name] = tk
					}
				}
			})
		}
	}
}

// requireVault skips without a Vault (or fails with SPOTTER_REQUIRE_VAULT).
func requireVault(t *testing.T) {
	t.Helper()
	vaultStore(t) // skips or fails as vaulttest says
}

// TestRetriesRacingAtTheCap: 60 attempts of one launch at once, over three
// replicas, with the token at maxRunning less one: every attempt admitted,
// and the reservation counted once (a launch with another key is refused
// while they are in flight, admitted once they settle).
func TestRetriesRacingAtTheCap(t *testing.T) {
	sets := map[string]func(t *testing.T) [3]*Ledger{
		"memory": func(*testing.T) [3]*Ledger { l := New(0, nil); return [3]*Ledger{l, l, l} },
		"shared/embedded": func(t *testing.T) [3]*Ledger {
			st := embedded(t)
			return [3]*Ledger{NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{})}
		},
	}
	for kind, newReplicas := range sets {
		t.Run(kind, func(t *testing.T) {
			reps := newReplicas(t)
			listed := []api.Instance{inst("i-l1", 0, ""), inst("i-l2", 0, ""), inst("i-l3", 0, ""), inst("i-l4", 0, "")}
			var admitted, busy atomic.Int32
			var mu sync.Mutex
			var tickets []*Ticket
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Go(func() {
					for {
						tk, err := reps[i%3].Admit(context.Background(), "tokA", "sp-same", listed, capAt(5, 1, 0))
						if apperr.Code(err) == apperr.Unavailable {
							busy.Add(1)
							time.Sleep(time.Millisecond)
							continue
						}
						if err != nil {
							t.Errorf("attempt %d refused: %v", i, err)
							return
						}
						admitted.Add(1)
						mu.Lock()
						tickets = append(tickets, tk)
						mu.Unlock()
						return
					}
				})
			}
			wg.Wait()
			if n := admitted.Load(); n != 60 {
				t.Fatalf("%d of 60 attempts of one launch admitted at maxRunning-1; want all", n)
			}
			var saw Counted
			if _, err := reps[1].Admit(context.Background(), "tokA", "sp-other", listed, func(u Counted) (Claim, error) {
				saw = u
				return capAt(5, 1, 0)(u)
			}); err == nil || saw.Running != 5 || saw.InFlight.Running != 1 {
				t.Fatalf("another launch: %v, saw %+v; want refused, counting the 60 attempts as 1", err, saw)
			}
			for _, tk := range tickets {
				tk.Done(nil)
			}
			if _, err := reps[2].Admit(context.Background(), "tokA", "sp-other", listed, capAt(5, 1, 0)); err != nil {
				t.Fatalf("once every attempt ended, another launch: %v; want admitted", err)
			}
			t.Logf("%d busy answers retried", busy.Load())
		})
	}
}

// TestListedInstancesStandForTheirClaim: EC2 answered a launch and the
// listing shows its instances before the launch settled its claim. What
// the listing shows of a claim (by the instances' launch key) is not
// counted twice; the rest of the claim still is.
func TestListedInstancesStandForTheirClaim(t *testing.T) {
	tests := map[string]struct {
		listed []api.Instance
		want   Counted
	}{
		"nothing listed yet: the whole claim": {
			want: counted(2, 1, 2, 1),
		},
		"one of its two listed": {
			listed: []api.Instance{inst("i-a", 0.25, "sp-k1")},
			want:   counted(2, 1, 1, 0.75),
		},
		"both listed: the claim adds nothing": {
			listed: []api.Instance{inst("i-a", 0.5, "sp-k1"), inst("i-b", 0.5, "sp-k1")},
			want:   counted(2, 1, 0, 0),
		},
		"another launch's instance does not stand for it": {
			listed: []api.Instance{inst("i-x", 0.25, "sp-x")},
			want:   counted(3, 1.25, 2, 1),
		},
		"an instance of no known launch neither": {
			listed: []api.Instance{inst("i-y", 0.25, "")},
			want:   counted(3, 1.25, 2, 1),
		},
	}
	for kind, newReplicas := range replicaSets(t) {
		for name, tt := range tests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				if kind == "shared/vault" {
					requireVault(t)
				}
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				reps := newReplicas(t, clk)
				if _, err := reps[0].Admit(context.Background(), "tokA", "sp-k1", nil, func(Counted) (Claim, error) { return Claim{Count: 2, Spend: 1}, nil }); err != nil {
					t.Fatal(err)
				}
				var got Counted
				_, _ = reps[1].Admit(context.Background(), "tokA", "sp-k2", tt.listed, func(u Counted) (Claim, error) { got = u; return Claim{}, errFull })
				if got != tt.want {
					t.Fatalf("check saw %+v; want %+v", got, tt.want)
				}
			})
		}
	}
}
