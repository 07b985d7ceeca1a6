package poolsim

import "time"

// Observation is what a controller sees each tick: the queue and the
// fleet, as a pool reconciler would read them from a CI provider and EC2.
type Observation struct {
	Now time.Time
	// Pending jobs wait for an agent; Running jobs have one; Idle is the
	// idle capacity (free job slots) on registered instances.
	Pending, Running, Idle int
	// PendingSince is when each pending job was (re)queued, oldest first.
	PendingSince []time.Time
	// Queued is when each job queued since the previous tick was queued,
	// whether or not an agent took it since: a webhook per job event.
	Queued    []time.Time
	Instances []InstanceView
}

// InstanceView is one live instance (pending or running in EC2).
type InstanceView struct {
	ID       string
	Launched time.Time
	// Booting until EC2 says running and the agent registers (the harness
	// registers agents the moment the instance runs).
	Booting  bool
	Capacity int // job slots
	Busy     int // slots running a job
	// IdleSince is when the instance last had every slot free (its boot
	// end if it never ran a job); zero while busy or booting.
	IdleSince time.Time
	JobsDone  int
	// Warned instances got a spot interruption notice; they take no new job.
	Warned bool
}

// Decision is what a controller asks for. Launch is a number of instances
// (of the harness's one launch config); Terminate lists instance ids,
// which the harness ends only if they are idle (never a running job).
type Decision struct {
	Launch    int
	Terminate []string
	// Desired is the capacity the controller aims at, for the picture; -1
	// when it has no such notion.
	Desired int
}

// Controller decides a pool's size. Decide is called once per tick, in
// virtual time; a controller that runs less often keeps its own schedule.
type Controller interface {
	Name() string
	Decide(o Observation) Decision
}

// Ephemeral is implemented by controllers whose agents take one job and
// end: the harness gives an instance that has run a job no other.
type Ephemeral interface {
	Ephemeral() bool
}

// counts sums an observation's instances by state, in capacity units.
type counts struct {
	booting, registered, busy, instances int
}

func (o Observation) counts() counts {
	var c counts
	for _, in := range o.Instances {
		c.instances++
		if in.Booting {
			c.booting += in.Capacity
		} else {
			c.registered += in.Capacity
		}
		c.busy += in.Busy
	}
	return c
}
