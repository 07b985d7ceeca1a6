package poolsim

import (
	"time"

	"github.com/spotter-dev/spotter/pool"
)

// Spotter is spotter's own pool controller in the benchmark: each tick it
// reports the queue as fresh demand and calls pool.Decide, the function
// the server's reconciler calls, and carries the decision out. It keeps
// only what a reconciler keeps between decisions: the last scale times
// and the decision epoch.
//
// Which idle agent takes the next job is the harness's Pick, the same for
// every row (random by default: agents long-poll the queue). spotter does
// not depend on it: it ends surplus idle instances itself, oldest first,
// after idleTimeout, whichever agents the queue happened to leave idle.
type Spotter struct {
	Pool pool.Pool

	lastOut, lastIn time.Time
	epoch           uint64
}

// NewSpotter is a pool of c6i.large (one job each) with the defaults and
// maxCapacity maxCap.
func NewSpotter(maxCap int) *Spotter {
	p := pool.Pool{
		Name: "bench", TokenID: "tok_abcdefghijklmnopqrst", Region: "us-east-1", AMI: "ami-0123456789abcdef0",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}},
		MaxCapacity:   maxCap,
	}
	if err := p.Normalize(); err != nil {
		panic(err) // a constant definition: a failure is a bug in this file
	}
	return &Spotter{Pool: p}
}

func (*Spotter) Name() string { return "spotter" }

func (s *Spotter) Decide(o Observation) Decision {
	in := pool.Input{
		Pool: s.Pool, Now: o.Now, LastScaleOut: s.lastOut, LastScaleIn: s.lastIn, Epoch: s.epoch,
		Demand: pool.Demand{Pending: o.Pending, Running: o.Running, Idle: o.Idle, At: o.Now},
	}
	// The sim has one type at one price, so scale-in falls to oldest first.
	for _, v := range o.Instances {
		i := pool.Instance{ID: v.ID, InstanceType: "c6i.large", Capacity: v.Capacity, Launched: v.Launched, IdleSince: v.IdleSince}
		switch {
		case v.Booting:
			i.State = pool.Booting
		case v.Busy > 0:
			i.State = pool.Busy
		default:
			i.State = pool.Idle
		}
		if v.Warned {
			i.Interrupted = o.Now // the harness does not say when; any non-zero time
		}
		in.Instances = append(in.Instances, i)
	}
	d := pool.Decide(in)
	out := Decision{Desired: d.Desired, Launch: d.Launch.Capacity}
	for _, e := range d.End {
		out.Terminate = append(out.Terminate, e.ID)
	}
	if d.ScaledOut() {
		s.lastOut = o.Now
		s.epoch++ // the harness's launch answers at once
	}
	if d.ScaledIn() {
		s.lastIn = o.Now
	}
	return out
}
