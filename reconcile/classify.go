package reconcile

import (
	"cmp"
	"path"
	"slices"
	"time"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// Seen is what is known of a pool's instances besides EC2's view.
type Seen struct {
	// Jobs: what the CI sources saw run on each instance, by id; an
	// instance absent here is one no source has named.
	Jobs map[string]pool.Activity
	// Reported: what each instance's last heartbeat said it was doing,
	// "busy" or "idle", by id; absent when it said nothing.
	Reported map[string]string
}

// States a heartbeat reports.
const (
	ReportedBusy = "busy"
	ReportedIdle = "idle"
)

// Classify turns EC2's instances into the pool's. An instance the CI
// sources named (a job's runner, agent or worker carried its id) is busy
// while a job runs on it and idle otherwise, idle since it finished its
// last job; with terminateAfterJob, each job it finished used up one of
// its slots (its weight: one agent, runner or worker per slot, each for
// one job), and once all are used and none runs it is done. One no source
// named but whose heartbeat said busy or idle is that (the CI events win
// when both speak), a busy one taking up to its weight of the demand's
// running jobs. The rest are guessed as before: EC2 "pending" is booting;
// "running" ones take the demand's running jobs not placed on an instance
// above, oldest first (the first agent up is the first a queue hands jobs
// to), each up to its weight, and one with a job is busy, the rest idle.
// An instance with an interruption notice is marked interrupted (at now:
// EC2 does not say when the notice came).
func Classify(p pool.Pool, ins []spot.Instance, d pool.Demand, seen Seen, now time.Time) []pool.Instance {
	ins = slices.Clone(ins)
	slices.SortFunc(ins, func(a, b spot.Instance) int {
		return cmp.Or(a.LaunchTime.Compare(b.LaunchTime), cmp.Compare(a.ID, b.ID))
	})
	jobs := d.Running
	for _, in := range ins {
		if a, named := seen.Jobs[in.ID]; named {
			jobs -= a.Running
		} else if seen.Reported[in.ID] == ReportedBusy {
			jobs -= Weight(p, in.Type)
		}
	}
	out := make([]pool.Instance, 0, len(ins))
	for _, in := range ins {
		pi := pool.Instance{ID: in.ID, InstanceType: in.Type, Capacity: Weight(p, in.Type), Launched: in.LaunchTime,
			Price: in.Price.Dollars(), OnDemand: in.Lifecycle == "on-demand", State: pool.Booting}
		if in.Interrupted {
			pi.Interrupted = now
		}
		a, named := seen.Jobs[in.ID]
		reported := seen.Reported[in.ID]
		switch {
		case named:
			fromJobs(&pi, p, a)
		case reported == ReportedBusy:
			pi.State = pool.Busy
		case reported == ReportedIdle:
			pi.State = pool.Idle
		case in.State == "running":
			pi.State = pool.Idle
			if jobs > 0 {
				pi.State = pool.Busy
				jobs -= pi.Capacity
			}
		}
		out = append(out, pi)
	}
	return out
}

// fromJobs sets an instance's state from what its jobs say. A job seen on
// it means its agent is up, whatever EC2's state.
func fromJobs(pi *pool.Instance, p pool.Pool, a pool.Activity) {
	pi.State = pool.Idle
	if a.Running > 0 {
		pi.State = pool.Busy
	} else if a.LastDone.After(pi.Launched) {
		pi.IdleSince = a.LastDone
	}
	if !p.TerminateAfterJob || a.Done == 0 {
		return
	}
	left := pi.Capacity - a.Done
	if a.Running == 0 && left <= 0 {
		pi.State = pool.Done
		return
	}
	// The slots whose job is done take no other: they are no capacity, so
	// a pending job gets a new instance rather than wait on them.
	pi.Capacity = max(left, a.Running, 1)
}

// Weight is the capacity of an instance type in the pool: the heaviest
// launch config whose type or pattern names it, 1 when none does (an
// instance of a config since removed).
func Weight(p pool.Pool, typ string) int {
	w := 0
	for _, lc := range p.LaunchConfigs {
		if ok, _ := path.Match(lc.InstanceType, typ); ok {
			w = max(w, lc.Capacity)
		}
	}
	return max(w, 1)
}

// RunningOnPool is the demand a terminateAfterJob pool decides on: its
// running jobs counted no higher than the capacity its busy instances
// hold. A source writes a job's end before the demand that follows it,
// and an ended job's slot stops being capacity at once (it takes no other
// job), so a pass between the two writes would see the demand still
// counting the job as running with no slot for it, and launch for a job
// that has ended. Running jobs need no new capacity in any case: they
// run, on this pool's instances or on agents outside it. Other pools
// keep a finished job's slot as idle capacity, so they take the demand
// as it is.
func RunningOnPool(p pool.Pool, d pool.Demand, ins []pool.Instance) pool.Demand {
	if !p.TerminateAfterJob {
		return d
	}
	busy := 0
	for _, i := range ins {
		if i.State == pool.Busy {
			busy += i.Capacity
		}
	}
	d.Running = min(d.Running, busy)
	return d
}
