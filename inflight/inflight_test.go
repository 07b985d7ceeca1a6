package inflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/testclock"
)

var errFull = errors.New("full")

// capAt admits count instances while Running stays within max.
func capAt(max, count int, spend float64) func(Counted) (Claim, error) {
	return func(u Counted) (Claim, error) {
		if u.Running+count > max {
			return Claim{}, errFull
		}
		return Claim{Count: count, Spend: spend}, nil
	}
}

func TestLedger(t *testing.T) {
	type step func(t *testing.T, l *Ledger, clk *testclock.Clock)
	// usage admits on tok with listed and checks what the check saw.
	usage := func(tok string, listed []api.Instance, want Counted) step {
		return func(t *testing.T, l *Ledger, _ *testclock.Clock) {
			t.Helper()
			var got Counted
			if _, err := l.Admit(context.Background(), tok, "", listed, func(u Counted) (Claim, error) { got = u; return Claim{}, errFull }); !errors.Is(err, errFull) {
				t.Fatalf("Admit = %v; want the check's error", err)
			}
			if got != want {
				t.Fatalf("check saw %+v; want %+v", got, want)
			}
		}
	}
	var held *Ticket
	claim := func(tok string, c Claim) step {
		return func(t *testing.T, l *Ledger, _ *testclock.Clock) {
			t.Helper()
			tk, err := l.Admit(context.Background(), tok, "", nil, func(Counted) (Claim, error) { return c, nil })
			if err != nil {
				t.Fatal(err)
			}
			held = tk
		}
	}
	done := func(started ...api.Instance) step {
		return func(*testing.T, *Ledger, *testclock.Clock) { held.Done(started) }
	}
	wait := func(d time.Duration) step {
		return func(_ *testing.T, _ *Ledger, clk *testclock.Clock) { clk.Add(d) }
	}
	i1 := inst("i-1", 0.25, "")
	i2 := inst("i-2", 0.5, "")

	tests := []struct {
		name  string
		steps []step
	}{
		{name: "the listing alone", steps: []step{
			usage("tokA", []api.Instance{i1, i2}, counted(2, 0.75, 0, 0)),
		}},
		{name: "a claim in flight counts", steps: []step{
			claim("tokA", Claim{Count: 2, Spend: 1}),
			usage("tokA", []api.Instance{i1}, counted(3, 1.25, 2, 1)),
		}},
		{name: "a refused check claims nothing", steps: []step{
			usage("tokA", nil, Counted{}),
			usage("tokA", nil, Counted{}),
		}},
		{name: "done releases the claim; what it started counts, once, listed or not", steps: []step{
			claim("tokA", Claim{Count: 2, Spend: 1}),
			done(i1, i2),
			usage("tokA", nil, counted(2, 0.75, 0, 0)),
			usage("tokA", []api.Instance{i1}, counted(2, 0.75, 0, 0)),
			// A listing taken before i-1 showed up, checked after one that
			// shows it, still counts it.
			usage("tokA", nil, counted(2, 0.75, 0, 0)),
		}},
		{name: "started instances stop counting after the recent period", steps: []step{
			claim("tokA", Claim{Count: 1}),
			done(i1),
			wait(DefaultRecent - time.Second),
			usage("tokA", nil, counted(1, 0.25, 0, 0)),
			wait(time.Second),
			usage("tokA", nil, Counted{}),
		}},
		{name: "ended instances stop counting at once", steps: []step{
			claim("tokA", Claim{Count: 2}),
			done(i1, i2),
			func(_ *testing.T, l *Ledger, _ *testclock.Clock) {
				l.Ended(context.Background(), "tokA", []string{"i-2"})
			},
			usage("tokA", nil, counted(1, 0.25, 0, 0)),
		}},
		{name: "done twice releases once", steps: []step{
			claim("tokA", Claim{Count: 1}),
			done(i1),
			done(i2),
			usage("tokA", nil, counted(1, 0.25, 0, 0)),
		}},
		{name: "tokens are apart", steps: []step{
			claim("tokA", Claim{Count: 1, Spend: 0.5}),
			usage("tokB", nil, Counted{}),
		}},
	}
	// One table, both ledgers: the shared one must count as the memory
	// one does, only across replicas.
	ledgers := map[string]func(t *testing.T, clk *testclock.Clock) *Ledger{
		"memory": func(_ *testing.T, clk *testclock.Clock) *Ledger { return New(0, clk.Now) },
		"shared": func(t *testing.T, clk *testclock.Clock) *Ledger {
			return NewShared(embedded(t), SharedOptions{Lease: time.Hour, Now: clk.Now})
		},
	}
	for kind, newLedger := range ledgers {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.name, func(t *testing.T) {
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				l := newLedger(t, clk)
				for _, s := range tt.steps {
					s(t, l, clk)
				}
			})
		}
	}
}

func TestLedgerForgetsIdleTokens(t *testing.T) {
	clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	l := New(time.Minute, clk.Now)
	for _, tok := range []string{"tokA", "tokB"} {
		tk, err := l.Admit(context.Background(), tok, "", nil, capAt(5, 1, 0))
		if err != nil {
			t.Fatal(err)
		}
		tk.Done([]api.Instance{inst("i-"+tok, 0, "")})
	}
	clk.Add(2 * time.Minute)
	tk, _ := l.Admit(context.Background(), "tokC", "", nil, capAt(5, 1, 0))
	tk.Done(nil)
	if n := len(l.shared.queues); n != 0 {
		t.Fatalf("ledger holds %d tokens; want 0 once nothing is in flight or recent", n)
	}
}

func TestNilLedgerChecksTheListing(t *testing.T) {
	var l *Ledger
	tk, err := l.Admit(context.Background(), "tokA", "", []api.Instance{inst("i-1", 0, ""), inst("i-2", 0, "")}, capAt(2, 1, 0))
	if !errors.Is(err, errFull) || tk != nil {
		t.Fatalf("Admit = %v, %v; want the check to refuse 2 running + 1", tk, err)
	}
	tk.Done(nil) // a nil ticket is fine
	l.Ended(context.Background(), "tokA", nil)
}

// TestConcurrentAdmitsKeepTheCap is the reason for the package: launches
// that list the same instances at the same time cannot together pass the
// cap.
func TestConcurrentAdmitsKeepTheCap(t *testing.T) {
	l := New(0, nil)
	listed := []api.Instance{inst("i-0", 0, ""), inst("i-1", 0, "")}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := l.Admit(context.Background(), "tokA", "", listed, capAt(10, 1, 0)); err == nil {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 8 {
		t.Fatalf("%d launches admitted beside 2 running under a cap of 10; want 8", n)
	}
}
