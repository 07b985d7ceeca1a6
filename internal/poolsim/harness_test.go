package poolsim

import (
	"context"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// exact launches one instance per pending job not yet covered by booting or
// idle capacity and ends every idle instance at once: the floor's
// controller, with boots.
type exact struct{ greedyTerminate bool }

func (exact) Name() string { return "exact" }
func (e exact) Decide(o Observation) Decision {
	n := o.counts()
	d := Decision{Launch: max(0, o.Pending-n.booting-o.Idle), Desired: -1}
	for _, in := range o.Instances {
		if e.greedyTerminate || (!in.Booting && in.Busy == 0) {
			d.Terminate = append(d.Terminate, in.ID)
		}
	}
	return d
}

func testConfig() Config {
	c := DefaultConfig(1)
	c.Boot = awssim.FixedDelay(30 * time.Second)
	c.PeakInterruptionRate = 0
	return c
}

func TestHarnessAccounting(t *testing.T) {
	tests := map[string]struct {
		jobs         []Job
		ctrl         Controller
		waits        []time.Duration
		instanceTime time.Duration
		floor        time.Duration
		launches     int
	}{
		// Seen at the 10 s tick, launched, 30 s boot: a 40 s wait; billed
		// from launch to the end of the job.
		"one job": {
			jobs: []Job{{ID: 0, Run: 5 * time.Minute}}, ctrl: exact{},
			waits: []time.Duration{40 * time.Second}, instanceTime: 5*time.Minute + 30*time.Second,
			floor: 5 * time.Minute, launches: 1,
		},
		// A 20 s job: billed 60 s at least (30 s boot + 20 s run = 50 s),
		// and its floor is 60 s too.
		"short job at the 60 s minimum": {
			jobs: []Job{{ID: 0, Run: 20 * time.Second}}, ctrl: exact{},
			waits: []time.Duration{40 * time.Second}, instanceTime: time.Minute,
			floor: time.Minute, launches: 1,
		},
		// Exactly 60 s of run: no rounding either way.
		"job of exactly 60 s": {
			jobs: []Job{{ID: 0, Run: time.Minute}}, ctrl: exact{},
			waits: []time.Duration{40 * time.Second}, instanceTime: 90 * time.Second,
			floor: time.Minute, launches: 1,
		},
		// Termination of busy or booting instances is refused: the job
		// still runs to its end.
		"terminating busy instances is refused": {
			jobs: []Job{{ID: 0, Run: 5 * time.Minute}}, ctrl: exact{greedyTerminate: true},
			waits: []time.Duration{40 * time.Second}, instanceTime: 5*time.Minute + 30*time.Second,
			floor: 5 * time.Minute, launches: 1,
		},
		// The second job arrives while the first runs: a second instance.
		"two overlapping jobs": {
			jobs: []Job{{ID: 0, Run: 5 * time.Minute}, {ID: 1, Arrive: time.Minute, Run: 5 * time.Minute}}, ctrl: exact{},
			waits: []time.Duration{40 * time.Second, 30 * time.Second}, instanceTime: 11 * time.Minute,
			floor: 10 * time.Minute, launches: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Run(context.Background(), testConfig(), tc.jobs, tc.ctrl)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Waits) != len(tc.waits) {
				t.Fatalf("waits %v; want %v", r.Waits, tc.waits)
			}
			for i := range tc.waits {
				if r.Waits[i] != tc.waits[i] {
					t.Errorf("wait %d = %v; want %v", i, r.Waits[i], tc.waits[i])
				}
			}
			if r.InstanceTime != tc.instanceTime || r.FloorTime != tc.floor || r.Launches != tc.launches {
				t.Errorf("instance time %v, floor %v, launches %d; want %v, %v, %d", r.InstanceTime, r.FloorTime, r.Launches, tc.instanceTime, tc.floor, tc.launches)
			}
			if want := 30 * time.Second * time.Duration(tc.launches); r.BootTime != want {
				t.Errorf("boot time %v; want %v (30 s per launch)", r.BootTime, want)
			}
			if r.Unfinished != 0 || r.LostJobTime != 0 || r.Interruptions != 0 {
				t.Errorf("unfinished %d, lost %v, interruptions %d; want none", r.Unfinished, r.LostJobTime, r.Interruptions)
			}
		})
	}
}

// At a high interruption rate long jobs are lost, requeued and finished:
// the lost time shows in the waits and in BusyTime.
func TestHarnessInterruptionsRequeue(t *testing.T) {
	cfg := testConfig()
	cfg.PeakInterruptionRate = 3 // per instance-hour at peak
	var jobs []Job
	for i := range 20 {
		jobs = append(jobs, Job{ID: i, Arrive: 10 * time.Hour, Run: 40 * time.Minute})
	}
	r, err := Run(context.Background(), cfg, jobs, exact{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Interruptions == 0 || r.LostJobTime == 0 {
		t.Fatalf("interruptions %d, lost %v; want some at 3/h over 40 min jobs", r.Interruptions, r.LostJobTime)
	}
	if r.Unfinished != 0 || len(r.Waits) != len(jobs) {
		t.Fatalf("finished %d, unfinished %d; want all %d", len(r.Waits), r.Unfinished, len(jobs))
	}
	var waited time.Duration
	for _, w := range r.Waits {
		waited += w
	}
	if waited < r.LostJobTime {
		t.Errorf("total wait %v < lost job time %v; a requeued job's lost run counts as wait", waited, r.LostJobTime)
	}
	if r.BusyTime != 20*40*time.Minute+r.LostJobTime {
		t.Errorf("busy %v; want the jobs' run time plus the lost %v", r.BusyTime, r.LostJobTime)
	}
	// exact replaces an interrupted instance only when its job requeues
	// (not when the job ends within the 2 min notice).
	if r.Launches < len(jobs) || r.Launches > len(jobs)+r.Interruptions {
		t.Errorf("launches %d; want between %d jobs and that plus %d interruptions", r.Launches, len(jobs), r.Interruptions)
	}
}

// The same seed gives the same day, to the second: nothing in the harness
// depends on map order or wall time, and no SDK call is retried.
func TestHarnessDeterminism(t *testing.T) {
	cfg := DefaultConfig(3)
	cfg.Trace.PeakPushesPerHour = 3 // a quarter of the day's load, to stay quick
	jobs := Generate(cfg.Trace)
	var rows [2]Row
	for i := range rows {
		r, err := Run(context.Background(), cfg, jobs, NewTaskclusterWM(200))
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = r.Summarize()
	}
	if rows[0] != rows[1] {
		t.Errorf("two runs of seed 3 differ:\n%+v\n%+v", rows[0], rows[1])
	}
	if rows[0].Interrupt == 0 {
		t.Errorf("no interruptions in the run; the test would not see their order")
	}
}
