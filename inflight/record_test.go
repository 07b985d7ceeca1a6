package inflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// TestRecordFollowsRecentLaunches: a token launching 1,000 times a minute
// for a minute, EC2 listing each instance 2 s late, over two replicas.
// Every launch sees exactly the instances started before it (no more, no
// less: nothing ends), and the record holds no more than the launches of
// the last few seconds (before, a minute's: 1,000).
func TestRecordFollowsRecentLaunches(t *testing.T) {
	clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	st := embedded(t)
	o := SharedOptions{Now: clk.Now}
	reps := []*Ledger{NewShared(st, o), NewShared(st, o)}
	ec2 := &lagging{now: clk.Now, lag: 2 * time.Second}
	const launches, every = 1000, 60 * time.Millisecond
	// What can wait: maxUnseen, and what EC2 lists late or a listing
	// showed in the last 2×seenSlack, at 1,000 a minute.
	bound := maxUnseen + int((ec2.lag+minRelist+2*seenSlack)/every)
	most := 0
	for n := range launches {
		clk.Add(every)
		key := fmt.Sprintf("k%d", n)
		var saw int
		tk, err := reps[n%2].AdmitListing(context.Background(), "tokA", key, "r1", ec2.list, func(u Counted) (Claim, error) {
			saw = u.Running
			return Claim{Count: 1}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if saw != n {
			t.Fatalf("launch %d counted %d running; want exactly %d", n, saw, n)
		}
		in := inst(fmt.Sprintf("i-%d", n), 0.01, key)
		ec2.start(in)
		tk.Done([]api.Instance{in})
		if n%10 != 9 {
			continue
		}
		rec, err := st.Get(context.Background(), usageKey("tokA"))
		if err != nil {
			t.Fatal(err)
		}
		var u usage
		if err := json.Unmarshal(rec.Public, &u); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(u.Started))
		if len(u.Started) > bound {
			t.Fatalf("after launch %d the record holds %d started instances; want at most %d", n, len(u.Started), bound)
		}
	}
	t.Logf("at most %d started instances held (bound %d); %d listings for %d launches", most, bound, ec2.lists, launches)
}

// TestRecordListedInstances: what happens to an instance the ledger
// started once listings show it, keyed by what the listings show and when
// they were taken. The token runs i-1 (0.5 $/h, launch "k1"); maxRunning
// is 2.
func TestRecordListedInstances(t *testing.T) {
	i1 := inst("i-1", 0.5, "k1")
	type listing struct {
		after time.Duration // since the launch settled
		ins   []api.Instance
	}
	tests := map[string]struct {
		listings []listing
		// key and ask are the launch checked after the listings, on the
		// last listing (or the kept count when there is none).
		key     string
		ask     int
		want    bool
		running int // what its check counted
	}{
		"unlisted: counts":                                 {listings: []listing{{0, nil}}, key: "k2", ask: 1, want: true, running: 1},
		"unlisted: one past the cap":                       {listings: []listing{{0, nil}}, key: "k2", ask: 2, running: 1},
		"listed: counts once":                              {listings: []listing{{0, []api.Instance{i1}}}, key: "k2", ask: 1, want: true, running: 1},
		"listed, then a listing taken meanwhile lacks it":  {listings: []listing{{time.Second, []api.Instance{i1}}, {time.Second + seenSlack - time.Nanosecond, nil}}, key: "k2", ask: 2, running: 1},
		"listed, then one seenSlack later lacks it: ended": {listings: []listing{{time.Second, []api.Instance{i1}}, {time.Second + seenSlack, nil}}, key: "k2", ask: 2, want: true, running: 0},
		"listed, then listed seenSlack later: still one":   {listings: []listing{{time.Second, []api.Instance{i1}}, {time.Second + seenSlack, []api.Instance{i1}}}, key: "k2", ask: 2, running: 1},
		"a retry of k1 at the cap, unlisted: its own":      {listings: []listing{{0, nil}}, key: "k1", ask: 2, want: true, running: 0},
		"a retry of k1 at the cap, listed: its own":        {listings: []listing{{0, []api.Instance{i1}}}, key: "k1", ask: 2, want: true, running: 0},
		"a retry of k1 at the cap, listed long ago":        {listings: []listing{{0, []api.Instance{i1}}, {seenSlack, []api.Instance{i1}}}, key: "k1", ask: 2, want: true, running: 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			l := NewShared(embedded(t), SharedOptions{Now: clk.Now})
			tk, err := l.Admit(context.Background(), "tokA", "k1", []api.Instance{}, capAt(2, 1, 0))
			if err != nil {
				t.Fatal(err)
			}
			tk.Done([]api.Instance{i1})
			start := clk.Now()
			var running int
			see := func(u Counted) (Claim, error) {
				running = u.Running
				return capAt(2, tt.ask, 0)(u)
			}
			for i, ls := range tt.listings {
				clk.Add(start.Add(ls.after).Sub(clk.Now()))
				ins := append([]api.Instance{}, ls.ins...)
				check := func(Counted) (Claim, error) { return Claim{}, errFull }
				key := "probe"
				if i == len(tt.listings)-1 {
					check, key = see, tt.key
				}
				tk, err := l.Admit(context.Background(), "tokA", key, ins, check)
				if i < len(tt.listings)-1 {
					continue
				}
				if (err == nil) != tt.want || err != nil && !errors.Is(err, errFull) {
					t.Fatalf("Admit = %v; want admitted %v", err, tt.want)
				}
				tk.Done(nil)
			}
			if running != tt.running {
				t.Fatalf("the check counted %d running; want %d", running, tt.running)
			}
		})
	}
}
