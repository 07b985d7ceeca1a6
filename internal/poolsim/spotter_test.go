package poolsim

import (
	"context"
	"testing"
)

// checked wraps Spotter and checks each of its decisions over a whole day
// against the observation it was made from.
type checked struct {
	*Spotter
	t                    *testing.T
	decisions, maxLaunch int
}

func (c *checked) Decide(o Observation) Decision {
	d := c.Spotter.Decide(o)
	c.decisions++
	byID := map[string]InstanceView{}
	usable, warnedBusy := 0, 0
	for _, in := range o.Instances {
		byID[in.ID] = in
		switch {
		case in.Warned && in.Busy > 0:
			warnedBusy += in.Capacity
		case !in.Warned:
			usable += in.Capacity
		}
	}
	for _, id := range d.Terminate {
		if in, ok := byID[id]; !ok || in.Busy > 0 {
			c.t.Errorf("at %v: asked to end %s, busy or unknown: %+v", o.Now, id, in)
		}
	}
	// A launch covers jobs without a slot, plus busy instances that are
	// being interrupted; never more.
	if lim := max(0, o.Running+o.Pending-usable) + warnedBusy; d.Launch > lim {
		c.t.Errorf("at %v: launched %d; %d jobs lack a slot and %d units are interrupted", o.Now, d.Launch, o.Running+o.Pending-usable, warnedBusy)
	}
	c.maxLaunch = max(c.maxLaunch, d.Launch)
	return d
}

// Over a whole day (a third of the load, to stay quick) spotter's row
// never asks to end a busy instance, never launches past the jobs that
// lack a slot, and finishes every job.
func TestSpotterDay(t *testing.T) {
	cfg := DefaultConfig(4)
	cfg.Trace.PeakPushesPerHour = 4
	cfg.PeakInterruptionRate = 0.5 // ten times the benchmark's, to exercise replacements
	jobs := Generate(cfg.Trace)
	c := &checked{Spotter: NewSpotter(200), t: t}
	r, err := Run(context.Background(), cfg, jobs, c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unfinished != 0 || len(r.Waits) != len(jobs) {
		t.Errorf("finished %d of %d jobs, %d unfinished", len(r.Waits), len(jobs), r.Unfinished)
	}
	if r.Interruptions == 0 || c.maxLaunch < 2 {
		t.Errorf("interruptions %d, largest launch %d: the day did not exercise replacements or bursts", r.Interruptions, c.maxLaunch)
	}
	if row := r.Summarize(); row.Dollars/row.Floor > 1.2 {
		t.Errorf("× floor %.3f; spotter's target is within 1.20×", row.Dollars/row.Floor)
	}
	t.Logf("%d decisions, %d launches, %d interruptions, × floor %.3f", c.decisions, r.Launches, r.Interruptions, r.Summarize().Dollars/r.Summarize().Floor)
}
