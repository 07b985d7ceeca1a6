package poolsim

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func booting(id string, launched time.Duration) InstanceView {
	return InstanceView{ID: id, Launched: t0.Add(launched), Booting: true, Capacity: 1}
}

func busy(id string, launched time.Duration) InstanceView {
	return InstanceView{ID: id, Launched: t0.Add(launched), Capacity: 1, Busy: 1}
}

func idle(id string, launched, since time.Duration) InstanceView {
	return InstanceView{ID: id, Launched: t0.Add(launched), Capacity: 1, IdleSince: t0.Add(since)}
}

// step is one Decide call at t0+at of a stateful controller.
type step struct {
	at        time.Duration
	o         Observation
	launch    int
	terminate []string
}

func runSteps(t *testing.T, c Controller, steps []step) {
	t.Helper()
	for i, s := range steps {
		s.o.Now = t0.Add(s.at)
		for _, in := range s.o.Instances {
			s.o.Running += in.Busy
		}
		d := c.Decide(s.o)
		if d.Launch != s.launch || !reflect.DeepEqual(d.Terminate, s.terminate) {
			t.Errorf("step %d at %v: launch %d, terminate %v; want %d, %v", i, s.at, d.Launch, d.Terminate, s.launch, s.terminate)
		}
	}
}

func TestTaskclusterWM(t *testing.T) {
	tests := map[string]struct {
		max   int
		steps []step
	}{
		"idle capacity covers pending": {max: 50, steps: []step{
			{o: Observation{Pending: 2, Instances: []InstanceView{busy("a", -time.Hour), busy("b", -time.Hour), busy("c", -time.Hour), idle("d", 0, 0), idle("e", 0, 0)}},
				launch: 0}, // pending+claimed = 5 keeps all five
		}},
		"one per pending task": {max: 50, steps: []step{
			{o: Observation{Pending: 5, Instances: []InstanceView{busy("a", 0), busy("b", 0)}}, launch: 5},
		}},
		// Booting workers count in existing and in requested capacity:
		// 3 pending, 2 booting launches nothing (estimator.js:17-153).
		"booting capacity counted twice": {max: 50, steps: []step{
			{o: Observation{Pending: 3, Instances: []InstanceView{booting("a", 0), booting("b", 0)}}, launch: 0},
		}},
		"max capacity exactly reached": {max: 7, steps: []step{
			{o: Observation{Pending: 5, Instances: []InstanceView{busy("a", 0), busy("b", 0)}}, launch: 5},
		}},
		"max capacity one short": {max: 6, steps: []step{
			{o: Observation{Pending: 5, Instances: []InstanceView{busy("a", 0), busy("b", 0)}}, launch: 4},
		}},
		// Termination advice keeps the newest pending+claimed workers: the
		// old busy one is marked (it exits after its job), the middle idle
		// one exits now, the newest idle one stays.
		"termination advice keeps the newest": {max: 50, steps: []step{
			{o: Observation{Instances: []InstanceView{busy("a", -3*time.Hour), idle("b", -2*time.Hour, -time.Minute), idle("c", -time.Hour, -time.Minute)}},
				terminate: []string{"b"}},
			// Within the scan period the marks stand; a's job ended: it goes.
			{at: 10 * time.Second, o: Observation{Instances: []InstanceView{idle("a", -3*time.Hour, 5*time.Second), idle("c", -time.Hour, -time.Minute)}},
				terminate: []string{"a"}},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { runSteps(t, NewTaskclusterWM(tc.max), tc.steps) })
	}
}

func TestBuildkiteElastic(t *testing.T) {
	five := []InstanceView{booting("a", 0), booting("b", 0), booting("c", 0), booting("d", 0), booting("e", 0)}
	tests := map[string][]step{
		"scale out then cooldown 300 s": {
			{o: Observation{Pending: 5}, launch: 5},
			{at: 60 * time.Second, o: Observation{Pending: 8, Instances: five}, launch: 0},
			{at: 290 * time.Second, o: Observation{Pending: 8, Instances: five}, launch: 0},
			{at: 300 * time.Second, o: Observation{Pending: 8, Instances: five}, launch: 3},
		},
		// The agent's idle timeout: at 600 s exactly it ends and the ASG's
		// desired drops, so it is not replaced; at 599 s it stays.
		"idle period 600 s": {
			{o: Observation{Pending: 2}, launch: 2},
			{at: time.Hour, o: Observation{Instances: []InstanceView{idle("a", 0, time.Hour-599*time.Second), idle("b", 0, time.Hour-600*time.Second)}},
				terminate: []string{"b"}},
			{at: time.Hour + 10*time.Second, o: Observation{Instances: []InstanceView{idle("a", 0, time.Hour-599*time.Second)}},
				terminate: []string{"a"}},
		},
		"ASG replaces an interrupted instance": {
			{o: Observation{Pending: 3}, launch: 3},
			{at: time.Minute, o: Observation{Instances: []InstanceView{busy("a", 0), busy("b", 0)}}, launch: 1},
		},
		// Fewer than half the expected agents online, ASG converged: one
		// more instance than desired, past the cooldown.
		"availability boost": {
			{o: Observation{Pending: 4}, launch: 4},
			{at: 300 * time.Second, o: Observation{Pending: 1, Instances: []InstanceView{busy("a", 0), booting("b", 0), booting("c", 0), booting("d", 0)}}, launch: 1},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) { runSteps(t, NewBuildkiteElastic(50, 1), steps) })
	}
}

func TestGitHubEphemeral(t *testing.T) {
	tests := map[string]struct {
		max   int
		steps []step
	}{
		"webhook delayed 30 s": {max: 50, steps: []step{
			{o: Observation{Pending: 2, Queued: []time.Time{t0, t0.Add(time.Second)}}, launch: 0},
			{at: 29 * time.Second, o: Observation{Pending: 2}, launch: 0},
			{at: 30 * time.Second, o: Observation{Pending: 2}, launch: 1},
			{at: 31 * time.Second, o: Observation{Pending: 2}, launch: 1},
		}},
		// No queued check: a message launches a runner even if the job
		// was taken meanwhile.
		"no queued check": {max: 50, steps: []step{
			{o: Observation{Queued: []time.Time{t0}}, launch: 0},
			{at: 30 * time.Second, o: Observation{}, launch: 1},
		}},
		"maximum runners holds messages back": {max: 2, steps: []step{
			{o: Observation{Queued: []time.Time{t0, t0, t0}}, launch: 0},
			{at: 30 * time.Second, o: Observation{}, launch: 2},
			{at: 40 * time.Second, o: Observation{Instances: []InstanceView{booting("a", 30*time.Second), booting("b", 30*time.Second)}}, launch: 0},
			{at: 50 * time.Second, o: Observation{Instances: []InstanceView{booting("a", 30*time.Second)}}, launch: 1},
		}},
		"ephemeral ends after one job, scale-down at 5 min of age": {max: 50, steps: []step{
			{o: Observation{Instances: []InstanceView{
				{ID: "done", Launched: t0.Add(-time.Minute), Capacity: 1, JobsDone: 1, IdleSince: t0},
				idle("old", -5*time.Minute, -4*time.Minute), idle("young", -5*time.Minute+time.Second, -4*time.Minute)}},
				terminate: []string{"done", "old"}},
			// Next scale-down only 5 min later.
			{at: time.Minute, o: Observation{Instances: []InstanceView{idle("young", -5*time.Minute+time.Second, -4*time.Minute)}}},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { runSteps(t, NewGitHubEphemeral(tc.max), tc.steps) })
	}
}

// Spotter's row is pool.Decide on the harness's observations; these steps
// check the adapter (states, notices, scale times), not the decision
// rules, which pool's own tests cover.
func TestSpotter(t *testing.T) {
	warned := func(v InstanceView) InstanceView { v.Warned = true; return v }
	tests := map[string][]step{
		"launch for pending not covered by booting or idle": {
			{o: Observation{Pending: 5, Instances: []InstanceView{booting("a", 0), busy("b", -time.Hour)}}, launch: 4},
		},
		"surplus idle ends once past EC2's 60 s minimum": {
			{o: Observation{Instances: []InstanceView{idle("young", -59*time.Second, -10*time.Second), idle("old", -time.Hour, -10*time.Second), busy("b", -time.Hour)}},
				terminate: []string{"old"}},
		},
		"warned busy is replaced, warned idle ends": {
			{o: Observation{Instances: []InstanceView{warned(busy("a", -time.Hour)), warned(idle("b", -time.Hour, -time.Minute))}},
				launch: 1, terminate: []string{"b"}},
		},
		// Decisions are absolute: the next tick sees the launch booting.
		"a launch is not repeated": {
			{o: Observation{Pending: 3}, launch: 3},
			{at: 10 * time.Second, o: Observation{Pending: 3, Instances: []InstanceView{booting("a", 0), booting("b", 0), booting("c", 0)}}},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) { runSteps(t, NewSpotter(50), steps) })
	}
}
