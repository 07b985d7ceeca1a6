package awssim_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// Interruption rates over long runs: the hazard, its seed, rate changes
// and clock jumps.

// keepFleet keeps n spot instances for a virtual run of length d in steps
// of tick, launching a replacement for each one that ends; it returns the
// interruption warnings and the spot instance-hours it ran.
func keepFleet(t *testing.T, w *testWorld, n int, d, tick time.Duration) ([]step, float64) {
	t.Helper()
	if err := w.sim.SetCapacity("us-east-1", "", "t3.micro", false, 100000); err != nil {
		t.Fatal(err)
	}
	start := w.sim.Now()
	launch := func(k int) {
		t.Helper()
		if _, err := w.ec2.RunInstances(ctx(t), spotRun("", int32(k))); err != nil {
			t.Fatal(err)
		}
	}
	launch(n)
	var since uint64
	var warnings []step
	launched := map[string]time.Time{}
	ended := map[string]time.Time{}
	for w.sim.Now().Before(start.Add(d)) {
		if _, err := w.sim.AdvanceClock(tick); err != nil {
			t.Fatal(err)
		}
		gone := 0
		evs := w.sim.Events(since)
		for _, e := range evs {
			since = e.Seq
			switch {
			case e.DetailType == interruption:
				warnings = append(warnings, steps([]awssim.Event{e})[0])
			case e.Detail.State == "pending":
				launched[e.Detail.InstanceID] = e.At
			case e.Detail.State == "shutting-down":
				ended[e.Detail.InstanceID] = e.At
				gone++
			}
		}
		if gone > 0 {
			launch(gone)
		}
	}
	var hours float64
	for id, at := range launched {
		until := start.Add(d)
		if e, ok := ended[id]; ok && e.Before(until) {
			until = e
		}
		hours += until.Sub(at).Hours()
	}
	return warnings, hours
}

// TestInterruptionRateOverALongRun keeps 200 spot instances for 100
// virtual hours at 5 % per instance-hour. The count is Poisson with mean
// rate × instance-hours; seeded, it is exact, and it must lie within four
// standard deviations of that mean. Rate zero, the lower limit, gives none.
func TestInterruptionRateOverALongRun(t *testing.T) {
	for name, rate := range map[string]float64{"5 % per hour": 0.05, "none": 0} {
		t.Run(name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{Start: epoch, InterruptionRate: rate, Seed: 11})
			warnings, hours := keepFleet(t, w, 200, 100*time.Hour, 5*time.Minute)
			mean := rate * hours
			if hours < 19000 {
				t.Errorf("ran %.0f instance-hours; want about 20,000", hours)
			}
			if got := float64(len(warnings)); math.Abs(got-mean) > 4*math.Sqrt(mean) {
				t.Errorf("%d interruptions in %.0f instance-hours at %v/h; want %.0f ± %.0f", len(warnings), hours, rate, mean, 4*math.Sqrt(mean))
			}
			t.Logf("%d interruptions in %.0f instance-hours at %v/h (expected %.1f)", len(warnings), hours, rate, mean)
		})
	}
}

// TestInterruptionsAreSeeded: the same seed and calls give the same
// interruptions at the same times; another seed gives others.
func TestInterruptionsAreSeeded(t *testing.T) {
	run := func(seed int64) string {
		w := mustWorld(t, awssim.Options{Start: epoch, InterruptionRate: 0.5, Seed: seed})
		warnings, _ := keepFleet(t, w, 20, 10*time.Hour, 10*time.Minute)
		return fmt.Sprint(warnings)
	}
	a, b, c := run(5), run(5), run(6)
	if a != b {
		t.Errorf("seed 5 twice gave different interruptions:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 5 and 6 gave the same interruptions: %s", a)
	}
}

// rebalances runs 50 spot instances for d under the rate changes given
// (at offsets from the start) and returns each instance's rebalance time.
func rebalances(t *testing.T, changes []rateChange, d time.Duration) map[string]time.Time {
	t.Helper()
	w := mustWorld(t, awssim.Options{Start: epoch, Seed: 8})
	if _, err := w.ec2.RunInstances(ctx(t), spotRun("", 50)); err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if _, err := w.sim.SetClock(epoch.Add(c.at)); err != nil {
			t.Fatal(err)
		}
		if err := w.sim.SetInterruptionRate(c.rate); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.sim.SetClock(epoch.Add(d)); err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, e := range w.sim.Events(0) {
		if e.DetailType == rebalance {
			out[e.Detail.InstanceID] = e.At
		}
	}
	return out
}

type rateChange struct {
	at   time.Duration
	rate float64
}

// TestRateChangesSpendTheSameHazard: a rate change keeps what each
// instance has left of its hazard. Setting the same rate again changes
// nothing; a rate of zero for the first hour delays every rebalance by
// exactly that hour; twice the rate from the start halves every wait.
func TestRateChangesSpendTheSameHazard(t *testing.T) {
	base := rebalances(t, []rateChange{{0, 1}}, 6*time.Hour)
	if len(base) < 40 {
		t.Fatalf("%d of 50 instances rebalanced in 6 h at 1/h; want most", len(base))
	}
	for name, tc := range map[string]struct {
		changes []rateChange
		want    func(time.Duration) time.Duration // base wait → wait
	}{
		"same rate set again": {[]rateChange{{0, 1}, {20 * time.Minute, 1}, {40 * time.Minute, 3}, {40 * time.Minute, 1}},
			func(d time.Duration) time.Duration { return d }},
		"zero for the first hour": {[]rateChange{{0, 0}, {time.Hour, 1}},
			func(d time.Duration) time.Duration { return d + time.Hour }},
		"twice the rate": {[]rateChange{{0, 2}}, func(d time.Duration) time.Duration { return d / 2 }},
	} {
		t.Run(name, func(t *testing.T) {
			got := rebalances(t, tc.changes, 8*time.Hour)
			for id, at := range base {
				want := epoch.Add(tc.want(at.Sub(epoch)))
				if g, ok := got[id]; !ok || g.Sub(want).Abs() > time.Microsecond {
					t.Errorf("%s rebalanced at %v; want %v", id, g, want)
				}
			}
		})
	}
}

// TestOneJumpEqualsManySteps: the clock's due events are carried out at
// their own times, so one twelve-hour jump and 4,320 ten-second steps log
// the same events in the same order, in time order.
func TestOneJumpEqualsManySteps(t *testing.T) {
	boot := awssim.EC2BootDelay()
	run := func(tick time.Duration) []step {
		w := mustWorld(t, awssim.Options{Start: epoch, Boot: &boot, InterruptionRate: 0.2, Seed: 4})
		if _, err := w.ec2.RunInstances(ctx(t), spotRun("", 30)); err != nil {
			t.Fatal(err)
		}
		for w.sim.Now().Before(epoch.Add(12 * time.Hour)) {
			if _, err := w.sim.AdvanceClock(tick); err != nil {
				t.Fatal(err)
			}
		}
		return steps(w.sim.Events(0))
	}
	jump, small := run(12*time.Hour), run(10*time.Second)
	if fmt.Sprint(jump) != fmt.Sprint(small) {
		t.Errorf("one jump:\n%v\nsmall steps:\n%v", jump, small)
	}
	kinds := map[string]int{}
	for i, e := range jump {
		kinds[e.Type+e.State]++
		if i > 0 && e.At.Before(jump[i-1].At) {
			t.Errorf("event %d (%v) is before the one ahead of it (%v)", i, e, jump[i-1])
		}
	}
	if kinds[stateChange+"running"] != 30 || kinds[rebalance] == 0 || kinds[interruption] == 0 || kinds[stateChange+"terminated"] != kinds[interruption] {
		t.Errorf("event counts %v; want 30 boots and each warning followed by its end", kinds)
	}
}
