package awssim_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

const delay = 5 * time.Second

func onDemandRun(n int32) *ec2.RunInstancesInput {
	return &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
		MinCount: aws.Int32(n), MaxCount: aws.Int32(n), Placement: &types.Placement{AvailabilityZone: aws.String("us-east-1a")}}
}

func mustRun(t *testing.T, w *testWorld, in *ec2.RunInstancesInput) []string {
	t.Helper()
	out, err := w.ec2.RunInstances(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	return ids(out.Instances)
}

func stateOf(t *testing.T, w *testWorld, id string) (string, time.Time) {
	t.Helper()
	out := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if len(out) != 1 {
		t.Fatalf("DescribeInstances(%s) = %d instances", id, len(out))
	}
	return string(out[0].State.Name), aws.ToTime(out[0].LaunchTime)
}

func onDemandLeft(t *testing.T, w *testWorld) int {
	t.Helper()
	ps, err := w.sim.Pools("us-east-1", "m5.large")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.AZ == "us-east-1a" {
			return p.OnDemandAvailable
		}
	}
	t.Fatal("no us-east-1a pool")
	return 0
}

// An on-demand instance stops (stopping → stopped), frees its capacity,
// and starts again (pending → running) with a new launch time; repeating
// either is harmless.
func TestStopStartOnDemand(t *testing.T) {
	w := mustWorld(t, awssim.Options{PendingDelay: delay})
	id := mustRun(t, w, onDemandRun(1))[0]
	w.clock.Advance(delay)
	left := onDemandLeft(t, w)
	steps := []struct {
		name          string
		call          func() ([]types.InstanceStateChange, error)
		wantPrev      types.InstanceStateName
		wantCur       types.InstanceStateName
		wantAfter     types.InstanceStateName
		wantCapacity  int
		wantNewLaunch bool
	}{
		{name: "stop", call: func() ([]types.InstanceStateChange, error) {
			out, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: []string{id}})
			return stopChanges(out), err
		}, wantPrev: "running", wantCur: "stopping", wantAfter: "stopped", wantCapacity: left + 1},
		{name: "stop again", call: func() ([]types.InstanceStateChange, error) {
			out, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: []string{id}})
			return stopChanges(out), err
		}, wantPrev: "stopped", wantCur: "stopped", wantAfter: "stopped", wantCapacity: left + 1},
		{name: "start", call: func() ([]types.InstanceStateChange, error) {
			out, err := w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: []string{id}})
			return startChanges(out), err
		}, wantPrev: "stopped", wantCur: "pending", wantAfter: "running", wantCapacity: left, wantNewLaunch: true},
		{name: "start again", call: func() ([]types.InstanceStateChange, error) {
			out, err := w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: []string{id}})
			return startChanges(out), err
		}, wantPrev: "running", wantCur: "running", wantAfter: "running", wantCapacity: left},
	}
	_, launched := stateOf(t, w, id)
	for _, s := range steps {
		w.clock.Advance(time.Minute)
		at := w.clock.Now()
		changes, err := s.call()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(changes) != 1 || changes[0].PreviousState.Name != s.wantPrev || changes[0].CurrentState.Name != s.wantCur || aws.ToString(changes[0].InstanceId) != id {
			t.Fatalf("%s: changes %+v; want %s → %s", s.name, changes, s.wantPrev, s.wantCur)
		}
		w.clock.Advance(delay)
		st, lt := stateOf(t, w, id)
		if st != string(s.wantAfter) {
			t.Errorf("%s: %s after the delay; want %s", s.name, st, s.wantAfter)
		}
		if got := onDemandLeft(t, w); got != s.wantCapacity {
			t.Errorf("%s: on-demand capacity left %d; want %d", s.name, got, s.wantCapacity)
		}
		if s.wantNewLaunch && !lt.Equal(at) || !s.wantNewLaunch && !lt.Equal(launched) {
			t.Errorf("%s: launch time %v (was %v, step at %v)", s.name, lt, launched, at)
		}
		launched = lt
	}
}

func stopChanges(o *ec2.StopInstancesOutput) []types.InstanceStateChange {
	if o == nil {
		return nil
	}
	return o.StoppingInstances
}

func startChanges(o *ec2.StartInstancesOutput) []types.InstanceStateChange {
	if o == nil {
		return nil
	}
	return o.StartingInstances
}

// What EC2 refuses, each refusal changing nothing.
func TestStopStartRefused(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, w *testWorld) []string // instance ids to act on
		start    bool
		dry      bool
		wantCode string
		wantHTTP int
	}{
		{name: "one-time spot instance", wantCode: "UnsupportedOperation", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string { return mustRun(t, w, spotRun("", 1)) }},
		{name: "one bad id fails the call", wantCode: "UnsupportedOperation", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string {
				return append(mustRun(t, w, onDemandRun(1)), mustRun(t, w, spotRun("", 1))...)
			}},
		{name: "terminated instance", wantCode: "IncorrectInstanceState", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string {
				id := mustRun(t, w, onDemandRun(1))
				if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: id}); err != nil {
					t.Fatal(err)
				}
				return id
			}},
		{name: "start a terminated instance", start: true, wantCode: "IncorrectInstanceState", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string {
				id := mustRun(t, w, onDemandRun(1))
				if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: id}); err != nil {
					t.Fatal(err)
				}
				return id
			}},
		{name: "start while stopping", start: true, wantCode: "IncorrectInstanceState", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string {
				id := mustRun(t, w, onDemandRun(1))
				if _, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: id}); err != nil {
					t.Fatal(err)
				}
				return id
			}},
		{name: "start without capacity", start: true, wantCode: "InsufficientInstanceCapacity", wantHTTP: http.StatusInternalServerError,
			setup: func(t *testing.T, w *testWorld) []string {
				id := mustRun(t, w, onDemandRun(1))
				if _, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: id}); err != nil {
					t.Fatal(err)
				}
				w.clock.Advance(delay)
				if err := w.sim.SetCapacity("us-east-1", "us-east-1a", "m5.large", true, 0); err != nil {
					t.Fatal(err)
				}
				return id
			}},
		{name: "dry run", dry: true, wantCode: "DryRunOperation", wantHTTP: http.StatusPreconditionFailed,
			setup: func(t *testing.T, w *testWorld) []string { return mustRun(t, w, onDemandRun(1)) }},
		{name: "unknown id", wantCode: "InvalidInstanceID.NotFound", wantHTTP: http.StatusBadRequest,
			setup: func(t *testing.T, w *testWorld) []string { return []string{"i-0123456789abcdef0"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{PendingDelay: delay})
			ids := tt.setup(t, w)
			before := map[string]string{}
			for _, id := range ids {
				if id != "i-0123456789abcdef0" {
					before[id], _ = stateOf(t, w, id)
				}
			}
			var err error
			if tt.start {
				_, err = w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: ids, DryRun: aws.Bool(tt.dry)})
			} else {
				_, err = w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: ids, DryRun: aws.Bool(tt.dry)})
			}
			wantErr(t, err, tt.wantCode, tt.wantHTTP)
			for id, st := range before {
				if now, _ := stateOf(t, w, id); now != st {
					t.Errorf("%s went %s → %s on a refused call", id, st, now)
				}
			}
		})
	}
}

// A persistent spot request's instance may be stopped: the request waits
// disabled, and is active again once the instance starts.
func TestStopStartPersistentSpot(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.ec2.RequestSpotInstances(ctx(t), &ec2.RequestSpotInstancesInput{
		Type:                         types.SpotInstanceTypePersistent,
		InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorStop,
		LaunchSpecification:          &types.RequestSpotLaunchSpecification{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large},
	})
	if err != nil {
		t.Fatal(err)
	}
	sr := out.SpotInstanceRequests[0]
	id := aws.ToString(sr.InstanceId)
	request := func() types.SpotInstanceRequest {
		got, err := w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{aws.ToString(sr.SpotInstanceRequestId)}})
		if err != nil {
			t.Fatal(err)
		}
		return got.SpotInstanceRequests[0]
	}
	if _, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatalf("stop a persistent spot instance: %v", err)
	}
	if r := request(); r.State != types.SpotInstanceStateDisabled || aws.ToString(r.Status.Code) != "instance-stopped-by-user" || aws.ToString(r.InstanceId) != id {
		t.Errorf("request after stop: %s/%s instance %s; want disabled/instance-stopped-by-user with %s", r.State, aws.ToString(r.Status.Code), aws.ToString(r.InstanceId), id)
	}
	if st, _ := stateOf(t, w, id); st != "stopped" {
		t.Errorf("instance %s; want stopped", st)
	}
	if _, err := w.ec2.StartInstances(ctx(t), &ec2.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if r := request(); r.State != types.SpotInstanceStateActive || aws.ToString(r.Status.Code) != "fulfilled" {
		t.Errorf("request after start: %s/%s; want active/fulfilled", r.State, aws.ToString(r.Status.Code))
	}
	if st, _ := stateOf(t, w, id); st != "running" {
		t.Errorf("instance %s; want running", st)
	}
}

func TestDescribeInstanceStatus(t *testing.T) {
	w := mustWorld(t, awssim.Options{PendingDelay: delay})
	a, b := mustRun(t, w, onDemandRun(1))[0], mustRun(t, w, onDemandRun(1))[0]
	status := func(t *testing.T, in *ec2.DescribeInstanceStatusInput) map[string]types.InstanceStatus {
		t.Helper()
		out := map[string]types.InstanceStatus{}
		p := ec2.NewDescribeInstanceStatusPaginator(w.ec2, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.InstanceStatuses {
				out[aws.ToString(s.InstanceId)] = s
			}
		}
		return out
	}
	if got := status(t, &ec2.DescribeInstanceStatusInput{}); len(got) != 0 {
		t.Errorf("pending instances listed without IncludeAllInstances: %v", got)
	}
	all := status(t, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	if s := all[a]; len(all) != 2 || s.InstanceState.Name != "pending" || s.InstanceStatus.Status != "not-applicable" || aws.ToString(s.AvailabilityZone) != "us-east-1a" {
		t.Errorf("IncludeAllInstances while pending: %+v", all)
	}
	w.clock.Advance(delay)
	if _, err := w.ec2.StopInstances(ctx(t), &ec2.StopInstancesInput{InstanceIds: []string{b}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       *ec2.DescribeInstanceStatusInput
		want     []string
		wantCode string
	}{
		{name: "running only by default", in: &ec2.DescribeInstanceStatusInput{}, want: []string{a}},
		{name: "all instances", in: &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)}, want: []string{a, b}},
		{name: "by id, running only", in: &ec2.DescribeInstanceStatusInput{InstanceIds: []string{a, b}}, want: []string{a}},
		{name: "by id, all", in: &ec2.DescribeInstanceStatusInput{InstanceIds: []string{b}, IncludeAllInstances: aws.Bool(true)}, want: []string{b}},
		{name: "state filter", in: &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
			Filters: []types.Filter{{Name: aws.String("instance-state-name"), Values: []string{"stopping"}}}}, want: []string{b}},
		{name: "check filter", in: &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true),
			Filters: []types.Filter{{Name: aws.String("instance-status.status"), Values: []string{"ok"}}}}, want: []string{a}},
		{name: "pages of five", in: &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true), MaxResults: aws.Int32(5)}, want: []string{a, b}},
		{name: "unknown id", in: &ec2.DescribeInstanceStatusInput{InstanceIds: []string{"i-0123456789abcdef0"}}, wantCode: "InvalidInstanceID.NotFound"},
		{name: "unknown filter", in: &ec2.DescribeInstanceStatusInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}}, wantCode: "InvalidParameterValue"},
		{name: "ids with MaxResults", in: &ec2.DescribeInstanceStatusInput{InstanceIds: []string{a}, MaxResults: aws.Int32(5)}, wantCode: "InvalidParameterCombination"},
		{name: "MaxResults below 5", in: &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(4)}, wantCode: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantCode != "" {
				_, err := w.ec2.DescribeInstanceStatus(ctx(t), tt.in)
				wantErr(t, err, tt.wantCode, http.StatusBadRequest)
				return
			}
			got := status(t, tt.in)
			var gotIDs []string
			for id := range got {
				gotIDs = append(gotIDs, id)
			}
			slices.Sort(gotIDs)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(gotIDs, want) {
				t.Fatalf("instances %v; want %v", gotIDs, want)
			}
			if s, ok := got[a]; ok && (s.InstanceState.Name != "running" || s.SystemStatus.Status != "ok" || s.InstanceStatus.Details[0].Status != "passed") {
				t.Errorf("running instance status %+v", s)
			}
		})
	}
}
