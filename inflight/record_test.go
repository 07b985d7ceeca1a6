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
	// What can wait: maxUnseen, and what EC2 lists late, what launched
	// while a listing was due, and what a listing showed until the next
	// begins clockSlack later, at 1,000 a minute.
	bound := maxUnseen + int((ec2.lag+2*minRelist+2*clockSlack)/every)
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
// started once listings show it, keyed by what each listing shows, when
// it began and how long it took. The token runs i-1 (0.5 $/h, launch
// "k1", started at 0); maxRunning is 2; every launch lists.
func TestRecordListedInstances(t *testing.T) {
	i1 := inst("i-1", 0.5, "k1")
	type step struct {
		at   time.Duration // when the listing begins
		took time.Duration // how long it takes
		ins  []api.Instance
		// handed: the listing is handed to Admit, which cannot know when
		// it began; began: to AdmitListed with its start (a pool's launch).
		handed, began bool
	}
	listed := []api.Instance{i1}
	tests := map[string]struct {
		steps []step
		// key and ask are the launch checked on the last step.
		key     string
		ask     int
		want    bool
		running int // what its check counted
	}{
		"unlisted: counts":           {steps: []step{{at: time.Second}}, key: "k2", ask: 1, want: true, running: 1},
		"unlisted: one past the cap": {steps: []step{{at: time.Second}}, key: "k2", ask: 2, running: 1},
		"listed: counts once":        {steps: []step{{at: time.Second, ins: listed}}, key: "k2", ask: 1, want: true, running: 1},
		"listed, then one begun clockSlack later lacks it: ended": {
			steps: []step{{at: time.Second, ins: listed}, {at: time.Second + clockSlack}}, key: "k2", ask: 2, want: true},
		"listed, then one begun just short of clockSlack lacks it: counts": {
			steps: []step{{at: time.Second, ins: listed}, {at: time.Second + clockSlack - time.Nanosecond}}, key: "k2", ask: 2, running: 1},
		"listed by a slow listing: counts until one begun after it ended": {
			steps: []step{{at: time.Second, took: 10 * time.Second, ins: listed}, {at: 11*time.Second + clockSlack - time.Nanosecond}}, key: "k2", ask: 2, running: 1},
		"listed by a slow listing, then one begun after it ended lacks it: ended": {
			steps: []step{{at: time.Second, took: 10 * time.Second, ins: listed}, {at: 11*time.Second + clockSlack}}, key: "k2", ask: 2, want: true},
		"listed, then listed again later: still one": {
			steps: []step{{at: time.Second, ins: listed}, {at: 10 * time.Second, ins: listed}}, key: "k2", ask: 2, running: 1},
		"listed, then a handed listing lacks it long after: counts": {
			steps: []step{{at: time.Second, ins: listed}, {at: 30 * time.Second, handed: true}}, key: "k2", ask: 2, running: 1},
		"listed, then one handed with its start clockSlack later lacks it: ended": {
			steps: []step{{at: time.Second, ins: listed}, {at: time.Second + clockSlack, handed: true, began: true}}, key: "k2", ask: 2, want: true},
		"listed, then one handed with its start just short of clockSlack lacks it: counts": {
			steps: []step{{at: time.Second, ins: listed}, {at: time.Second + clockSlack - time.Nanosecond, took: time.Minute / 2, handed: true, began: true}}, key: "k2", ask: 2, running: 1},
		"a retry of k1 at the cap, unlisted: its own": {steps: []step{{at: time.Second}}, key: "k1", ask: 2, want: true},
		"a retry of k1 at the cap, listed: its own":   {steps: []step{{at: time.Second, ins: listed}}, key: "k1", ask: 2, want: true},
		"a retry of k1 at the cap, listed and forgotten: its own": {
			steps: []step{{at: time.Second, ins: listed}, {at: 10 * time.Second, ins: listed}}, key: "k1", ask: 2, want: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			clk := testclock.New(start)
			l := NewShared(embedded(t), SharedOptions{Now: clk.Now})
			l.maxAge = 0 // every launch lists
			tk, err := l.Admit(context.Background(), "tokA", "k1", []api.Instance{}, capAt(2, 1, 0))
			if err != nil {
				t.Fatal(err)
			}
			tk.Done([]api.Instance{i1})
			var running int
			for i, s := range tt.steps {
				clk.Add(start.Add(s.at).Sub(clk.Now()))
				check, key := func(Counted) (Claim, error) { return Claim{}, errFull }, "probe"
				last := i == len(tt.steps)-1
				if last {
					check, key = func(u Counted) (Claim, error) {
						running = u.Running
						return capAt(2, tt.ask, 0)(u)
					}, tt.key
				}
				list := func(context.Context) ([]api.Instance, error) {
					clk.Add(s.took)
					return append([]api.Instance{}, s.ins...), nil
				}
				var tk *Ticket
				switch {
				case s.began:
					began := clk.Now()
					ins, _ := list(context.Background())
					tk, err = l.AdmitListed(context.Background(), "tokA", key, ins, began, check)
				case s.handed:
					ins, _ := list(context.Background())
					tk, err = l.Admit(context.Background(), "tokA", key, ins, check)
				default:
					tk, err = l.AdmitListing(context.Background(), "tokA", key, "r1", list, check)
				}
				tk.Done(nil)
				if !last {
					continue
				}
				if (err == nil) != tt.want || err != nil && !errors.Is(err, errFull) {
					t.Fatalf("Admit = %v; want admitted %v", err, tt.want)
				}
			}
			if running != tt.running {
				t.Fatalf("the check counted %d running; want %d", running, tt.running)
			}
		})
	}
}
