package awssim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spotter-dev/spotter/awssim"
)

// Persistent spot instances stopped and started: their hazard and repeat
// interruptions.

func persistentStopRun(n int32) *ec2.RunInstancesInput {
	in := spotRun("", n)
	in.InstanceMarketOptions.SpotOptions.SpotInstanceType = types.SpotInstanceTypePersistent
	in.InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior = types.InstanceInterruptionBehaviorStop
	return in
}

// TestStoppedSpotKeepsItsHazard: a spot instance stopped for an hour by
// its user is not interrupted meanwhile and, started again, gets its
// rebalance exactly an hour later than it would have.
func TestStoppedSpotKeepsItsHazard(t *testing.T) {
	run := func(pause bool) map[string]time.Time {
		w := mustWorld(t, awssim.Options{Start: epoch, Seed: 8, InterruptionRate: 1})
		out, err := w.ec2.RunInstances(ctx(t), persistentStopRun(10))
		if err != nil {
			t.Fatal(err)
		}
		if pause {
			w.sim.SetClock(epoch.Add(10 * time.Minute))
			if _, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids(out.Instances)}); err != nil {
				t.Fatal(err)
			}
			w.sim.SetClock(epoch.Add(70 * time.Minute))
			if _, err := w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids(out.Instances)}); err != nil {
				t.Fatal(err)
			}
		}
		w.sim.SetClock(epoch.Add(8 * time.Hour))
		// The first rebalance of each: one given before the stop is
		// followed by a fresh draw after the start.
		got := map[string]time.Time{}
		for _, e := range w.sim.Events(0) {
			if _, seen := got[e.Detail.InstanceID]; e.DetailType == rebalance && !seen {
				got[e.Detail.InstanceID] = e.At
			}
		}
		return got
	}
	straight, paused := run(false), run(true)
	checked := 0
	for id, at := range straight {
		want := at
		if at.After(epoch.Add(10 * time.Minute)) {
			want = at.Add(time.Hour)
			checked++
		}
		if got, ok := paused[id]; !ok || got.Sub(want).Abs() > time.Microsecond {
			t.Errorf("%s rebalanced at %v after an hour stopped; want %v", id, got, want)
		}
	}
	if checked < 5 {
		t.Errorf("only %d of 10 instances rebalanced after the stop; the test needs more", checked)
	}
}

// TestInterruptedSpotStartsAndIsInterruptedAgain: a persistent spot
// instance stopped by an interruption boots again when started and can be
// interrupted again.
func TestInterruptedSpotStartsAndIsInterruptedAgain(t *testing.T) {
	boot := awssim.EC2BootDelay()
	w := mustWorld(t, awssim.Options{Start: epoch, Boot: &boot, InterruptionRate: 4})
	out, err := w.ec2.RunInstances(ctx(t), persistentStopRun(1))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	count := func(kind, state string) int {
		n := 0
		for _, e := range w.sim.Events(0) {
			if e.DetailType == kind && e.Detail.State == state {
				n++
			}
		}
		return n
	}
	waitFor := func(kind, state string, n int) {
		t.Helper()
		for count(kind, state) < n {
			if w.sim.Now().Sub(epoch) > 72*time.Hour {
				t.Fatalf("no %d× %s %s in 72 h", n, kind, state)
			}
			w.sim.AdvanceClock(time.Minute)
		}
	}
	waitFor(stateChange, "stopped", 1)
	got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0]
	if got.State.Name != types.InstanceStateNameStopped || aws.ToString(got.StateReason.Code) != "Server.SpotInstanceShutdown" {
		t.Fatalf("after the first interruption: %s (%s); want stopped by Server.SpotInstanceShutdown", got.State.Name, aws.ToString(got.StateReason.Code))
	}
	if code, _ := imds(t, w, id, "spot/instance-action"); code != http.StatusOK {
		t.Errorf("instance-action while stopped = %d; want the notice still there", code)
	}
	if _, err := w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := stateOf(t, w, id); st != "pending" {
		t.Errorf("started: %s; want pending for its boot delay", st)
	}
	if code, _ := imds(t, w, id, "spot/instance-action"); code != http.StatusNotFound {
		t.Errorf("instance-action after the start = %d; want 404", code)
	}
	waitFor(stateChange, "running", 2)
	waitFor(interruption, "", 2)
	if n := count(rebalance, ""); n != 2 {
		t.Errorf("%d rebalance recommendations for two interruptions; want 2", n)
	}
}
