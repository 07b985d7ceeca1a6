package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/pool"
)

// ciDriver moves one provider's jobs and agents as its users and
// instances would, through the provider's local server.
type ciDriver interface {
	// queue adds one job the pool should take and returns its id.
	queue(t *testing.T) string
	// agentsUp connects the n agents a booted instance runs.
	agentsUp(t *testing.T, instance string, n int)
	// start runs job on agent slot (1…n) of instance and returns what
	// finish takes.
	start(t *testing.T, job, instance string, slot int) string
	finish(t *testing.T, running string)
	// agentsDown disconnects an ended instance's agents.
	agentsDown(t *testing.T, instance string, n int)
	// names reports whether the source tells spotter which instance runs
	// each job (a runner, agent or worker name); a source that only
	// counts leaves spotter to guess.
	names() bool
}

// slotName is the agent (runner, worker) name of an instance's slot: the
// instance id and the agent's number, as the bootstrap templates name them.
func slotName(instance string, slot int) string { return instance + "-" + itoa(slot) }

// slot is one agent of one instance, and the job it runs.
type slot struct {
	id      string
	n       int
	running string // what finish takes; "" while it runs nothing
}

// launchAndBoot queues jobs and checks the launch (checkLaunch; and a
// later pass on the same jobs launches no more), then boots each instance
// through the hand-off (agents = its weight) and connects its agents. It
// returns the instances oldest first and their slots newest instance
// first.
func (ss *srcStack) launchAndBoot(t *testing.T, name string, jobs int, drv ciDriver, template string) ([]awssim.InstanceState, []slot, []string) {
	t.Helper()
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = drv.queue(t)
	}
	ins := ss.running(t, name, jobs)
	ss.checkLaunch(t, name, ins, jobs)
	if ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Pending: jobs}); ev.Decision.Changes() {
		t.Errorf("a pass after the launch, on the same %d queued jobs, changes the pool: %+v", jobs, ev.Decision)
	}
	var slots []slot
	for i := len(ins) - 1; i >= 0; i-- {
		in := ins[i]
		g := ss.handOff(t, in.InstanceID)
		w := weights[in.InstanceType]
		if g["agents"] != float64(w) || g["template"] != template || g["pool"] != name {
			t.Errorf("grant of %s (%s): %v; want %d agents of %s", in.InstanceID, in.InstanceType, g, w, template)
		}
		drv.agentsUp(t, in.InstanceID, w)
		for n := 1; n <= w; n++ {
			slots = append(slots, slot{id: in.InstanceID, n: n})
		}
	}
	return ins, slots, ids
}

// checkStates asserts the decision saw each instance busy exactly when
// one of slots runs a job on it.
func checkStates(t *testing.T, ev decisionEvent, slots []slot) {
	t.Helper()
	for _, i := range ev.Instance {
		busy := slices.ContainsFunc(slots, func(s slot) bool { return s.id == i.ID && s.running != "" })
		if want := map[bool]pool.State{true: pool.Busy, false: pool.Idle}[busy]; i.State != want {
			t.Errorf("the pass saw %s %s; its agents run jobs: %v", i.ID, i.State, busy)
		}
	}
}

// finishOn finishes the jobs running on instance id (every instance when
// id is "") and returns how many.
func finishOn(t *testing.T, drv ciDriver, slots []slot, id string) int {
	t.Helper()
	n := 0
	for i := range slots {
		if s := &slots[i]; s.running != "" && (id == "" || s.id == id) {
			drv.finish(t, s.running)
			s.running = ""
			n++
		}
	}
	return n
}

// idleEnd moves the clock half of idleTimeout (a pass then ends nothing),
// then past it, and waits until every instance of want ended as idle.
func (ss *srcStack) idleEnd(t *testing.T, name string, want []string, running int) {
	t.Helper()
	ss.advance(t, srcIdleTimeout/2)
	if ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Running: running}); len(ev.Decision.End) > 0 || ev.Decision.Launch.Capacity > 0 {
		t.Errorf("idle for half its idleTimeout, the pool changes: %+v", ev.Decision)
	}
	ss.advance(t, srcIdleTimeout/2+time.Minute)
	var ends map[string]string
	eventually(t, ss.s, "the idle instances ended, and the audit of it", func() bool {
		ends = ss.endReasons() // written once EC2 answered the terminations
		live := poolInstances(ss.sim, name)
		return !slices.ContainsFunc(want, func(id string) bool {
			return ends[id] == "" || slices.ContainsFunc(live, func(in awssim.InstanceState) bool { return in.InstanceID == id })
		})
	})
	for _, id := range want {
		if ends[id] != string(pool.ReasonIdle) {
			t.Errorf("%s ended as %q, want %s", id, ends[id], pool.ReasonIdle)
		}
	}
}

// driveToIdleEnd runs the pool's life from jobs queued to instances gone.
// The jobs run on the newest instances' agents first, so a pass that
// guessed (oldest first) would see the wrong ones busy. A source that
// names the instances: each is busy exactly while its agents run a job;
// the newest one, its jobs done first, ends idleTimeout after its last job
// while the others run theirs, and they end idleTimeout after theirs
// (idle since then, not since launch). A source that only counts: the
// instances end together once idle for idleTimeout.
func (ss *srcStack) driveToIdleEnd(t *testing.T, name string, jobs int, drv ciDriver, template string) {
	t.Helper()
	ins, slots, ids := ss.launchAndBoot(t, name, jobs, drv, template)
	fleets := len(ss.createFleets())
	for i, job := range ids {
		slots[i].running = drv.start(t, job, slots[i].id, slots[i].n)
	}
	ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Running: jobs})
	if ev.Decision.Changes() {
		t.Errorf("with its %d jobs running the pool changes: %+v", jobs, ev.Decision)
	}
	all := make([]string, len(ins))
	for i, in := range ins {
		all[i] = in.InstanceID
	}
	ss.advance(t, 2*time.Minute) // the jobs take a while; past EC2's minimum charge
	if drv.names() {
		checkStates(t, ev, slots)
		first := slots[0].id
		// GitHub stamps completed_at in whole seconds.
		done := ss.clock.Now().Truncate(time.Second)
		left := jobs - finishOn(t, drv, slots, first)
		ev = ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Running: left})
		checkStates(t, ev, slots)
		for _, i := range ev.Instance {
			if i.ID == first && i.IdleSince.Before(done) {
				t.Errorf("%s idle since %s, before its last job ended at %s", i.ID, i.IdleSince, done)
			}
		}
		ss.idleEnd(t, name, []string{first}, left)
		if n := len(poolInstances(ss.sim, name)); n != len(ins)-1 {
			t.Errorf("%d instances live while their jobs run, want %d", n, len(ins)-1)
		}
		all = slices.DeleteFunc(all, func(id string) bool { return id == first })
	}
	finishOn(t, drv, slots, "")
	// A poller sees the jobs end at its next poll: idleTimeout counts from there.
	ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{})
	ss.idleEnd(t, name, all, 0)
	for _, in := range ins {
		drv.agentsDown(t, in.InstanceID, weights[in.InstanceType])
	}
	if n := len(ss.createFleets()); n != fleets {
		t.Errorf("%d CreateFleet calls over the pool's life, want the %d for the jobs", n, fleets)
	}
}

// driveEphemeral runs a terminateAfterJob pool: every agent slot gets one
// job (jobs queued, then as many more as the launch's overshoot left
// room for, launching nothing more); an instance ends right after its
// last job, with no clock moved (so not for idleness: its reason is
// job_done), while the others run on.
func (ss *srcStack) driveEphemeral(t *testing.T, name string, jobs int, drv ciDriver, template string) {
	t.Helper()
	ins, slots, ids := ss.launchAndBoot(t, name, jobs, drv, template)
	for range len(slots) - jobs {
		ids = append(ids, drv.queue(t))
	}
	for i, job := range ids {
		slots[i].running = drv.start(t, job, slots[i].id, slots[i].n)
	}
	left := len(slots)
	ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Running: left})
	if ev.Decision.Changes() {
		t.Errorf("with a job on each of its %d agents the pool changes: %+v", left, ev.Decision)
	}
	checkStates(t, ev, slots)
	// Jobs only end from here: nothing may launch. A pass between a job's
	// end and the demand written after it once launched for the ended job.
	fleets := len(ss.createFleets())
	defer func() {
		if n := len(ss.createFleets()); n != fleets {
			t.Errorf("%d CreateFleet calls while jobs only ended, want none", n-fleets)
		}
	}()
	for k := range ins {
		in := ins[len(ins)-1-k] // slots run newest instance first
		mine := slices.IndexFunc(slots, func(s slot) bool { return s.id == in.InstanceID && s.running != "" })
		// All its jobs but one end: it still runs one, so it stays.
		for i := range slots {
			if s := &slots[i]; s.id == in.InstanceID && s.running != "" && i != mine {
				drv.finish(t, s.running)
				s.running = ""
				left--
			}
		}
		ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{Running: left})
		if ev.Decision.Changes() {
			t.Errorf("%s still runs a job; the pool changes: %+v", in.InstanceID, ev.Decision)
		}
		checkStates(t, ev, slots)
		drv.finish(t, slots[mine].running)
		slots[mine].running = ""
		left--
		eventually(t, ss.s, in.InstanceID+" ended after its last job", func() bool {
			return ss.endReasons()[in.InstanceID] != "" && !slices.ContainsFunc(poolInstances(ss.sim, name),
				func(i awssim.InstanceState) bool { return i.InstanceID == in.InstanceID })
		})
		if r := ss.endReasons()[in.InstanceID]; r != string(pool.ReasonJobDone) {
			t.Errorf("%s ended as %q, want %s", in.InstanceID, r, pool.ReasonJobDone)
		}
		live := poolInstances(ss.sim, name)
		for _, other := range ins[:len(ins)-1-k] {
			if !slices.ContainsFunc(live, func(i awssim.InstanceState) bool { return i.InstanceID == other.InstanceID }) {
				t.Errorf("%s ended with %s; it still runs its jobs", other.InstanceID, in.InstanceID)
			}
		}
		drv.agentsDown(t, in.InstanceID, weights[in.InstanceType])
	}
}
