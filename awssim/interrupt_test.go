package awssim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

const (
	rebalance    = "EC2 Instance Rebalance Recommendation"
	interruption = "EC2 Spot Instance Interruption Warning"
	stateChange  = "EC2 Instance State-change Notification"
)

// step is an event reduced to what a test compares.
type step struct {
	At     time.Time
	Type   string
	ID     string
	Action string
	State  string
}

func (s step) String() string {
	return fmt.Sprintf("%s %s %s %s%s", s.At.Format("15:04:05.000000000"), s.ID, s.Type, s.Action, s.State)
}

func steps(evs []awssim.Event) []step {
	out := make([]step, len(evs))
	for i, e := range evs {
		out[i] = step{e.At, e.DetailType, e.Detail.InstanceID, e.Detail.InstanceAction, e.Detail.State}
	}
	return out
}

func imds(t *testing.T, w *testWorld, id, path string) (int, string) {
	t.Helper()
	return control(t, w, http.MethodGet, "/_sim/imds/"+id+"/latest/meta-data/"+path, nil, nil)
}

// TestRateInterruptionThroughTheSDK follows one spot instance under a high
// interruption rate from launch to its end, looking where EC2 shows each
// step: the event log (EventBridge), the instance metadata, the spot
// request's status, and DescribeInstances.
func TestRateInterruptionThroughTheSDK(t *testing.T) {
	w := mustWorld(t, awssim.Options{Start: epoch, InterruptionRate: 2})
	out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	sir := aws.ToString(out.Instances[0].SpotInstanceRequestId)
	for _, path := range []string{"spot/instance-action", "spot/termination-time", "events/recommendations/rebalance"} {
		if code, body := imds(t, w, id, path); code != http.StatusNotFound || body != "Not Found" {
			t.Errorf("IMDS %s before any notice = %d %q; want 404", path, code, body)
		}
	}
	// One-minute steps until the warning: the clock is then within the
	// two minutes of notice.
	var warning awssim.Event
	for warning.Seq == 0 {
		if w.sim.Now().Sub(epoch) > 48*time.Hour {
			t.Fatal("no interruption in 48 h at 2 per instance-hour")
		}
		if _, err := w.sim.AdvanceClock(time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, e := range w.sim.Events(0) {
			if e.DetailType == interruption {
				warning = e
			}
		}
	}
	var rebalanceAt time.Time
	for _, e := range w.sim.Events(0) {
		if e.DetailType == rebalance {
			rebalanceAt = e.At
		}
	}
	if rebalanceAt.IsZero() || rebalanceAt.After(warning.At) || warning.At.Sub(rebalanceAt) > 10*time.Minute {
		t.Errorf("rebalance at %v, warning at %v; want the rebalance 0–10 min before", rebalanceAt, warning.At)
	}
	if warning.Detail.InstanceAction != "terminate" || warning.Source != "aws.ec2" || warning.Region != "us-east-1" ||
		warning.Resources[0] != "arn:aws:ec2:us-east-1:123456789012:instance/"+id || warning.Time != warning.At.UTC().Format(time.RFC3339) {
		t.Errorf("warning event %+v is not EventBridge's shape for %s", warning, id)
	}
	end := warning.At.Add(2 * time.Minute)
	stamp := end.UTC().Format(time.RFC3339)
	for path, want := range map[string]string{
		"spot/instance-action":             `{"action":"terminate","time":"` + stamp + `"}`,
		"spot/termination-time":            stamp,
		"events/recommendations/rebalance": `{"noticeTime":"` + rebalanceAt.UTC().Format(time.RFC3339) + `"}`,
	} {
		if code, body := imds(t, w, id, path); code != http.StatusOK || body != want {
			t.Errorf("IMDS %s during the notice = %d %q; want 200 %q", path, code, body, want)
		}
	}
	if st := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0].State.Name; st != types.InstanceStateNameRunning {
		t.Errorf("during the notice the instance is %s; want running", st)
	}
	marked, err := w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{
		Filters: []types.Filter{{Name: aws.String("status-code"), Values: []string{"marked-for-termination"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(marked.SpotInstanceRequests) != 1 || aws.ToString(marked.SpotInstanceRequests[0].SpotInstanceRequestId) != sir ||
		!aws.ToTime(marked.SpotInstanceRequests[0].Status.UpdateTime).Equal(warning.At.Truncate(time.Millisecond)) {
		t.Errorf("marked-for-termination requests: %+v; want %s updated at the warning", marked.SpotInstanceRequests, sir)
	}
	// One nanosecond before the end it still runs; at the end it is gone.
	if _, err := w.sim.SetClock(end.Add(-time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if st := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0].State.Name; st != types.InstanceStateNameRunning {
		t.Errorf("1 ns before the end: %s; want running", st)
	}
	if _, err := w.sim.SetClock(end); err != nil {
		t.Fatal(err)
	}
	got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0]
	if got.State.Name != types.InstanceStateNameTerminated || aws.ToString(got.StateReason.Code) != "Server.SpotInstanceTermination" ||
		aws.ToString(got.StateTransitionReason) != "Service initiated ("+end.UTC().Format("2006-01-02 15:04:05")+" GMT)" {
		t.Errorf("at the end: %s, %s, %q; want terminated by Server.SpotInstanceTermination at %v", got.State.Name,
			aws.ToString(got.StateReason.Code), aws.ToString(got.StateTransitionReason), end)
	}
	want := []step{
		{epoch, stateChange, id, "", "pending"}, {epoch, stateChange, id, "", "running"},
		{rebalanceAt, rebalance, id, "", ""}, {warning.At, interruption, id, "terminate", ""},
		{end, stateChange, id, "", "shutting-down"}, {end, stateChange, id, "", "terminated"},
	}
	if got := steps(w.sim.Events(0)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n%v\nwant\n%v", got, want)
	}
}

// TestInterruptionBehaviours interrupts through the control API and checks
// what each interruption behaviour shows.
func TestInterruptionBehaviours(t *testing.T) {
	for name, tc := range map[string]struct {
		behaviour  types.InstanceInterruptionBehavior
		persistent bool
		wantStatus string
		wantEnd    time.Duration
		wantState  types.InstanceStateName
		wantCode   string
		wantLegacy bool // spot/termination-time answers
	}{
		"terminate": {types.InstanceInterruptionBehaviorTerminate, false, "marked-for-termination", 2 * time.Minute,
			types.InstanceStateNameTerminated, "Server.SpotInstanceTermination", true},
		"stop": {types.InstanceInterruptionBehaviorStop, true, "marked-for-stop", 2 * time.Minute,
			types.InstanceStateNameStopped, "Server.SpotInstanceShutdown", false},
		// AWS starts hibernation at the notice, without the two minutes.
		"hibernate": {types.InstanceInterruptionBehaviorHibernate, true, "marked-for-stop", 0,
			types.InstanceStateNameStopped, "Server.SpotInstanceShutdown", false},
	} {
		t.Run(name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{Start: epoch})
			in := spotRun("", 1)
			in.InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior = tc.behaviour
			if tc.persistent {
				in.InstanceMarketOptions.SpotOptions.SpotInstanceType = types.SpotInstanceTypePersistent
			}
			out, err := w.ec2.RunInstances(ctx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(out.Instances[0].InstanceId)
			w.sim.AdvanceClock(time.Minute)
			noticeAt := w.sim.Now()
			if code, raw := control(t, w, http.MethodPost, "/_sim/interrupt", map[string]string{"instanceId": id}, nil); code != 200 {
				t.Fatalf("POST /_sim/interrupt = %d %s", code, raw)
			}
			if tc.wantEnd > 0 {
				reqs, err := w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{})
				if err != nil {
					t.Fatal(err)
				}
				if got := aws.ToString(reqs.SpotInstanceRequests[0].Status.Code); got != tc.wantStatus {
					t.Errorf("spot request status during the notice %q; want %q", got, tc.wantStatus)
				}
			}
			wantAction := `{"action":"` + string(tc.behaviour) + `","time":"` + noticeAt.Add(tc.wantEnd).UTC().Format(time.RFC3339) + `"}`
			if code, body := imds(t, w, id, "spot/instance-action"); code != 200 || body != wantAction {
				t.Errorf("instance-action = %d %q; want %q", code, body, wantAction)
			}
			if code, _ := imds(t, w, id, "spot/termination-time"); (code == 200) != tc.wantLegacy {
				t.Errorf("termination-time = %d; want an answer only for terminate", code)
			}
			w.sim.AdvanceClock(tc.wantEnd)
			got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0]
			if got.State.Name != tc.wantState || aws.ToString(got.StateReason.Code) != tc.wantCode {
				t.Errorf("after the notice: %s (%s); want %s (%s)", got.State.Name, aws.ToString(got.StateReason.Code), tc.wantState, tc.wantCode)
			}
			evs := steps(w.sim.Events(0))
			// pending, running, rebalance and warning together, then the end.
			if len(evs) < 4 || evs[2].Type != rebalance || evs[3].Type != interruption || !evs[2].At.Equal(noticeAt) || !evs[3].At.Equal(noticeAt) {
				t.Errorf("events %v; want the rebalance and the warning at %v", evs, noticeAt)
			}
		})
	}
}

func TestInterruptRefusalsAndRepeats(t *testing.T) {
	w := mustWorld(t, awssim.Options{Start: epoch})
	od, err := w.ec2.RunInstances(ctx(t), onDemandRun(1))
	if err != nil {
		t.Fatal(err)
	}
	sp, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	spID := aws.ToString(sp.Instances[0].InstanceId)
	for name, tc := range map[string]struct {
		id, path   string
		wantStatus int
		wantErr    string
	}{
		"on-demand instance":    {aws.ToString(od.Instances[0].InstanceId), "", 400, "not a spot instance"},
		"unknown instance":      {"i-0123456789abcdef0", "", 400, "not found"},
		"imds unknown instance": {"i-0123456789abcdef0", "spot/instance-action", 404, "not found"},
		"imds unknown path":     {spID, "spot/whatever", 404, "not emulated"},
		"imds life cycle":       {spID, "instance-life-cycle", 200, "spot"},
	} {
		t.Run(name, func(t *testing.T) {
			var code int
			var raw string
			if tc.path == "" {
				code, raw = control(t, w, http.MethodPost, "/_sim/interrupt", map[string]string{"instanceId": tc.id}, nil)
			} else {
				code, raw = imds(t, w, tc.id, tc.path)
			}
			if code != tc.wantStatus || !strings.Contains(raw, tc.wantErr) {
				t.Errorf("= %d %s; want %d with %q", code, raw, tc.wantStatus, tc.wantErr)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		for range 2 {
			if err := w.sim.Interrupt(spID); err != nil {
				t.Fatal(err)
			}
			w.sim.AdvanceClock(time.Minute)
		}
		n := 0
		for _, e := range w.sim.Events(0) {
			if e.DetailType == interruption {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d interruption warnings after two interrupts; want 1", n)
		}
	})
}

func TestInterruptionControl(t *testing.T) {
	for name, tc := range map[string]struct {
		body       any
		wantStatus int
		wantRate   float64
		wantLead   string
	}{
		"rate":                  {map[string]any{"ratePerHour": 0.05}, 200, 0.05, "uniform 0s–10m0s"},
		"rate at the limit":     {map[string]any{"ratePerHour": 100}, 200, 100, "uniform 0s–10m0s"},
		"rate past the limit":   {map[string]any{"ratePerHour": 100.001}, 400, 0, "uniform 0s–10m0s"},
		"negative rate":         {map[string]any{"ratePerHour": -0.01}, 400, 0, "uniform 0s–10m0s"},
		"rate zero":             {map[string]any{"ratePerHour": 0}, 200, 0, "uniform 0s–10m0s"},
		"lead only":             {map[string]any{"rebalanceLead": map[string]any{"distribution": "fixed", "delay": "3m"}}, 200, 0, "3m0s"},
		"lead default":          {map[string]any{"rebalanceLead": map[string]any{}}, 200, 0, "uniform 0s–10m0s"},
		"bad lead keeps rate":   {map[string]any{"ratePerHour": 1, "rebalanceLead": map[string]any{"distribution": "fixed", "delay": "-1m"}}, 400, 0, "uniform 0s–10m0s"},
		"nothing":               {map[string]any{}, 400, 0, "uniform 0s–10m0s"},
		"rate not a number":     {map[string]any{"ratePerHour": "5%"}, 400, 0, "uniform 0s–10m0s"},
		"unknown field":         {map[string]any{"rate": 0.05}, 400, 0, "uniform 0s–10m0s"},
		"rate and lead at once": {map[string]any{"ratePerHour": 0.5, "rebalanceLead": map[string]any{"distribution": "uniform", "min": "0s", "max": "1m"}}, 200, 0.5, "uniform 0s–1m0s"},
	} {
		t.Run(name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{Start: epoch})
			if code, raw := control(t, w, http.MethodPost, "/_sim/interruptions", tc.body, nil); code != tc.wantStatus {
				t.Fatalf("POST /_sim/interruptions = %d %s; want %d", code, raw, tc.wantStatus)
			}
			st := w.sim.State()
			if st.InterruptionRate != tc.wantRate || st.RebalanceLead != tc.wantLead {
				t.Errorf("state rate %v lead %q; want %v %q", st.InterruptionRate, st.RebalanceLead, tc.wantRate, tc.wantLead)
			}
		})
	}
}

// TestEventsCursorAndReset: since= returns only newer events; Reset drops
// the log but keeps the rate and the clock.
func TestEventsCursorAndReset(t *testing.T) {
	w := mustWorld(t, awssim.Options{Start: epoch, InterruptionRate: 1})
	if _, err := w.ec2.RunInstances(ctx(t), spotRun("", 2)); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Events []awssim.Event `json:"events"`
		Next   uint64         `json:"next"`
	}
	if code, raw := control(t, w, http.MethodGet, "/_sim/events", nil, &page); code != 200 || len(page.Events) != 4 || page.Next != page.Events[3].Seq {
		t.Fatalf("GET /_sim/events = %d %s; want 4 events (2 pending, 2 running)", code, raw)
	}
	next := page.Next
	page.Events = nil
	if code, _ := control(t, w, http.MethodGet, fmt.Sprintf("/_sim/events?since=%d", next), nil, &page); code != 200 || len(page.Events) != 0 || page.Next != next {
		t.Errorf("since the last: %d events, next %d; want none, next %d", len(page.Events), page.Next, next)
	}
	if code, raw := control(t, w, http.MethodGet, "/_sim/events?since=-1", nil, nil); code != 400 || !strings.Contains(raw, "since") {
		t.Errorf("since=-1 = %d %s; want 400", code, raw)
	}
	w.sim.Reset()
	if evs := w.sim.Events(0); len(evs) != 0 {
		t.Errorf("%d events after Reset; want none", len(evs))
	}
	if st := w.sim.State(); st.InterruptionRate != 1 || !st.Time.Equal(epoch) || !st.Frozen {
		t.Errorf("after Reset: rate %v, time %v, frozen %v; want 1, %v, frozen", st.InterruptionRate, st.Time, st.Frozen, epoch)
	}
}
