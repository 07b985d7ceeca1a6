package reconcile

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// TestClassifySeen: an instance the sources named follows its jobs (busy
// while one runs, idle since the last one ended); the demand's other
// running jobs go to the instances no source named, oldest first; with
// terminateAfterJob each finished job uses up a slot, and an instance
// with every slot used and no job running is done.
func TestClassifySeen(t *testing.T) {
	const (
		light = "c6i.large"   // weight 1
		heavy = "c6i.2xlarge" // weight 2
	)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	type want struct {
		state     pool.State
		capacity  int
		idleSince time.Time
	}
	tests := map[string]struct {
		terminateAfterJob bool
		running           int // the demand's running jobs
		ins               []spot.Instance
		jobs              map[string]pool.Activity
		reported          map[string]string // heartbeats' busy or idle
		want              map[string]want
	}{
		"a named busy instance takes its job; the older unnamed one stays idle": {
			running: 1,
			ins:     []spot.Instance{{ID: "i-old", Type: light, State: "running", LaunchTime: at(0)}, {ID: "i-new", Type: light, State: "running", LaunchTime: at(1)}},
			jobs:    map[string]pool.Activity{"i-new": {Running: 1}},
			want:    map[string]want{"i-old": {pool.Idle, 1, time.Time{}}, "i-new": {pool.Busy, 1, time.Time{}}},
		},
		"running jobs no source placed go to the unnamed, oldest first": {
			running: 2,
			ins: []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}, {ID: "i-b", Type: light, State: "running", LaunchTime: at(1)},
				{ID: "i-c", Type: light, State: "running", LaunchTime: at(2)}},
			jobs: map[string]pool.Activity{"i-a": {Done: 1, LastDone: at(5)}},
			want: map[string]want{"i-a": {pool.Idle, 1, at(5)}, "i-b": {pool.Busy, 1, time.Time{}}, "i-c": {pool.Busy, 1, time.Time{}}},
		},
		"a named instance is idle since its last job ended, not since launch": {
			ins:  []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}},
			jobs: map[string]pool.Activity{"i-a": {Done: 3, LastDone: at(40)}},
			want: map[string]want{"i-a": {pool.Idle, 1, at(40)}},
		},
		"a job seen on an instance EC2 still calls pending makes it busy": {
			running: 1,
			ins:     []spot.Instance{{ID: "i-a", Type: light, State: "pending", LaunchTime: at(0)}},
			jobs:    map[string]pool.Activity{"i-a": {Running: 1}},
			want:    map[string]want{"i-a": {pool.Busy, 1, time.Time{}}},
		},
		"without terminateAfterJob a finished job leaves the instance idle": {
			ins:  []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}},
			jobs: map[string]pool.Activity{"i-a": {Done: 1, LastDone: at(3)}},
			want: map[string]want{"i-a": {pool.Idle, 1, at(3)}},
		},
		"terminateAfterJob, weight 1, its job done: done": {
			terminateAfterJob: true,
			ins:               []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}},
			jobs:              map[string]pool.Activity{"i-a": {Done: 1, LastDone: at(3)}},
			want:              map[string]want{"i-a": {pool.Done, 1, at(3)}},
		},
		"terminateAfterJob, weight 2, one of two jobs done, the other running: busy, one slot": {
			terminateAfterJob: true, running: 1,
			ins:  []spot.Instance{{ID: "i-a", Type: heavy, State: "running", LaunchTime: at(0)}},
			jobs: map[string]pool.Activity{"i-a": {Running: 1, Done: 1, LastDone: at(3)}},
			want: map[string]want{"i-a": {pool.Busy, 1, time.Time{}}},
		},
		"terminateAfterJob, weight 2, one job done, the other slot free: idle, one slot": {
			terminateAfterJob: true,
			ins:               []spot.Instance{{ID: "i-a", Type: heavy, State: "running", LaunchTime: at(0)}},
			jobs:              map[string]pool.Activity{"i-a": {Done: 1, LastDone: at(3)}},
			want:              map[string]want{"i-a": {pool.Idle, 1, at(3)}},
		},
		"terminateAfterJob, weight 2, both jobs done: done": {
			terminateAfterJob: true,
			ins:               []spot.Instance{{ID: "i-a", Type: heavy, State: "running", LaunchTime: at(0)}},
			jobs:              map[string]pool.Activity{"i-a": {Done: 2, LastDone: at(9)}},
			want:              map[string]want{"i-a": {pool.Done, 2, at(9)}},
		},
		"terminateAfterJob, nothing done yet: busy at its full weight": {
			terminateAfterJob: true, running: 1,
			ins:  []spot.Instance{{ID: "i-a", Type: heavy, State: "running", LaunchTime: at(0)}},
			jobs: map[string]pool.Activity{"i-a": {Running: 1}},
			want: map[string]want{"i-a": {pool.Busy, 2, time.Time{}}},
		},
		"a heartbeat's busy holds an instance no source named, and takes a running job from the guess": {
			running:  1,
			ins:      []spot.Instance{{ID: "i-old", Type: light, State: "running", LaunchTime: at(0)}, {ID: "i-new", Type: light, State: "running", LaunchTime: at(1)}},
			reported: map[string]string{"i-new": ReportedBusy},
			want:     map[string]want{"i-old": {pool.Idle, 1, time.Time{}}, "i-new": {pool.Busy, 1, time.Time{}}},
		},
		"a heartbeat's idle: idle, though the guess would give it the running job": {
			running:  1,
			ins:      []spot.Instance{{ID: "i-old", Type: light, State: "running", LaunchTime: at(0)}, {ID: "i-new", Type: light, State: "running", LaunchTime: at(1)}},
			reported: map[string]string{"i-old": ReportedIdle},
			want:     map[string]want{"i-old": {pool.Idle, 1, time.Time{}}, "i-new": {pool.Busy, 1, time.Time{}}},
		},
		"the CI events win over a heartbeat": {
			running:  1,
			ins:      []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}, {ID: "i-b", Type: light, State: "running", LaunchTime: at(1)}},
			jobs:     map[string]pool.Activity{"i-a": {Done: 1, LastDone: at(7)}, "i-b": {Running: 1}},
			reported: map[string]string{"i-a": ReportedBusy, "i-b": ReportedIdle},
			want:     map[string]want{"i-a": {pool.Idle, 1, at(7)}, "i-b": {pool.Busy, 1, time.Time{}}},
		},
		"a heartbeat from an instance EC2 still calls pending": {
			ins:      []spot.Instance{{ID: "i-a", Type: light, State: "pending", LaunchTime: at(0)}},
			reported: map[string]string{"i-a": ReportedIdle},
			want:     map[string]want{"i-a": {pool.Idle, 1, time.Time{}}},
		},
		"activity of an instance not live is ignored": {
			running: 1,
			ins:     []spot.Instance{{ID: "i-a", Type: light, State: "running", LaunchTime: at(0)}},
			jobs:    map[string]pool.Activity{"i-gone": {Running: 1}},
			want:    map[string]want{"i-a": {pool.Busy, 1, time.Time{}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPool(t)
			p.LaunchConfigs = []pool.LaunchConfig{{InstanceType: light, Capacity: 1}, {InstanceType: heavy, Capacity: 2}}
			p.TerminateAfterJob = tc.terminateAfterJob
			got := Classify(p, tc.ins, pool.Demand{Running: tc.running}, Seen{Jobs: tc.jobs, Reported: tc.reported}, at(60))
			if len(got) != len(tc.want) {
				t.Fatalf("%d instances, want %d", len(got), len(tc.want))
			}
			for _, i := range got {
				w := tc.want[i.ID]
				if i.State != w.state || i.Capacity != w.capacity || !i.IdleSince.Equal(w.idleSince) {
					t.Errorf("%s: %s, capacity %d, idle since %v; want %s, %d, %v", i.ID, i.State, i.Capacity, i.IdleSince, w.state, w.capacity, w.idleSince)
				}
			}
		})
	}
}

// TestTerminateAfterJobEnds: what the sources saw, through Classify and
// pool.Decide: a terminateAfterJob instance ends at the first pass after
// its last job is done (idleTimeout an hour, no cooldown waited), and a
// pending job gets a new instance in the same pass; one with a slot still
// running or free stays.
func TestTerminateAfterJobEnds(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := map[string]struct {
		act            pool.Activity
		demand         pool.Demand
		ends           []pool.End
		launch, desire int
	}{
		"weight 2, one of two jobs done, the other running: stays": {
			act: pool.Activity{Running: 1, Done: 1, LastDone: at(30)}, demand: pool.Demand{Running: 1},
			desire: 1},
		"weight 2, one of two jobs done, the other slot free: stays": {
			act:    pool.Activity{Done: 1, LastDone: at(30)},
			desire: 0},
		"weight 2, both done: ends at once": {
			act: pool.Activity{Done: 2, LastDone: at(59)}, ends: []pool.End{{ID: "i-a", Reason: pool.ReasonJobDone}}},
		"weight 2, both done, a job pending: ends and is replaced": {
			act: pool.Activity{Done: 2, LastDone: at(59)}, demand: pool.Demand{Pending: 1},
			ends: []pool.End{{ID: "i-a", Reason: pool.ReasonJobDone}}, launch: 1, desire: 1},
		"weight 2, one done and one running, a job pending: its done slot is no capacity": {
			act: pool.Activity{Running: 1, Done: 1, LastDone: at(30)}, demand: pool.Demand{Pending: 1, Running: 1},
			launch: 1, desire: 2},
		// The source wrote the job's end, not yet the demand, which still
		// counts it running: nothing launches for the ended job.
		"both done, the demand not yet told: ends, launches nothing": {
			act: pool.Activity{Done: 2, LastDone: at(59)}, demand: pool.Demand{Running: 2},
			ends: []pool.End{{ID: "i-a", Reason: pool.ReasonJobDone}}},
		"one done, one running, the demand not yet told: launches nothing": {
			act: pool.Activity{Running: 1, Done: 1, LastDone: at(59)}, demand: pool.Demand{Running: 2},
			desire: 1},
		"one running here, two more elsewhere: no capacity for those": {
			act: pool.Activity{Running: 1}, demand: pool.Demand{Running: 3},
			desire: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := testPool(t)
			p.LaunchConfigs = []pool.LaunchConfig{{InstanceType: "c6i.2xlarge", Capacity: 2}}
			p.TerminateAfterJob, p.IdleTimeout = true, pool.Duration(time.Hour)
			ins := []spot.Instance{{ID: "i-a", Type: "c6i.2xlarge", State: "running", LaunchTime: at(0)}}
			tc.demand.At = at(60)
			classified := Classify(p, ins, tc.demand, Seen{Jobs: map[string]pool.Activity{"i-a": tc.act}}, at(60))
			in := pool.Input{Pool: p, Demand: RunningOnPool(p, tc.demand, classified), Now: at(60), LastScaleIn: at(59),
				Instances: classified}
			d := pool.Decide(in)
			if len(d.End) != len(tc.ends) || (len(d.End) > 0 && d.End[0] != tc.ends[0]) {
				t.Errorf("ends %v, want %v", d.End, tc.ends)
			}
			if d.Launch.Capacity != tc.launch || d.Desired != tc.desire {
				t.Errorf("launch %d, desired %d; want %d, %d", d.Launch.Capacity, d.Desired, tc.launch, tc.desire)
			}
		})
	}
}
