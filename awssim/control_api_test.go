package awssim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/spotter-dev/spotter/awssim"
)

func postJSON(t *testing.T, w *testWorld, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := w.srv.Client().Post(w.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestControlAPI(t *testing.T) {
	w := mustWorld(t, awssim.Options{InterruptionNotice: 2 * time.Minute})
	mustTemplate(t, w, "fleet")

	t.Run("faults are deterministic", func(t *testing.T) {
		run := func() []bool {
			w := mustWorld(t, awssim.Options{Seed: 7})
			mustTemplate(t, w, "fleet")
			if code := postJSON(t, w, "/_sim/faults", map[string]any{"action": "CreateFleet", "code": "RequestLimitExceeded", "rate": 0.5}); code != http.StatusOK {
				t.Fatalf("POST /_sim/faults = %d", code)
			}
			var failed []bool
			for range 20 {
				_, err := w.ec2.CreateFleet(ctx(t), fleetInput("", "lowest-price", 1, types.InstanceTypeT3Micro))
				if err != nil {
					wantErr(t, err, "RequestLimitExceeded", http.StatusServiceUnavailable)
				}
				failed = append(failed, err != nil)
			}
			return failed
		}
		a, b := run(), run()
		n := 0
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("fault schedules differ at call %d: %v vs %v", i, a, b)
			}
			if a[i] {
				n++
			}
		}
		if n < 4 || n > 16 {
			t.Errorf("rate 0.5 failed %d of 20 calls", n)
		}
	})

	t.Run("fault count", func(t *testing.T) {
		postJSON(t, w, "/_sim/faults", map[string]any{"action": "DescribeInstances", "code": "InternalError", "rate": 1, "count": 1})
		_, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
		wantErr(t, err, "InternalError", http.StatusInternalServerError)
		if _, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
			t.Errorf("second call after a count-1 fault: %v", err)
		}
	})

	t.Run("DELETE faults ends an outage", func(t *testing.T) {
		postJSON(t, w, "/_sim/faults", map[string]any{"action": "*", "code": "RequestLimitExceeded", "rate": 1})
		_, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
		wantErr(t, err, "RequestLimitExceeded", http.StatusServiceUnavailable)
		req, _ := http.NewRequest(http.MethodDelete, w.srv.URL+"/_sim/faults", nil)
		resp, err := w.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE /_sim/faults = %d", resp.StatusCode)
		}
		if _, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
			t.Errorf("call after DELETE /_sim/faults: %v", err)
		}
	})

	t.Run("capacity", func(t *testing.T) {
		if code := postJSON(t, w, "/_sim/capacity", map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a", "instanceType": "t3.micro", "available": 0}); code != http.StatusOK {
			t.Fatalf("POST /_sim/capacity = %d", code)
		}
		in := spotRun("", 1)
		in.Placement = &types.Placement{AvailabilityZone: aws.String("us-east-1a")}
		_, err := w.ec2.RunInstances(ctx(t), in)
		wantErr(t, err, "InsufficientInstanceCapacity", http.StatusInternalServerError)
		if code := postJSON(t, w, "/_sim/capacity", map[string]any{"instanceType": "nope", "available": 1}); code != http.StatusBadRequest {
			t.Errorf("capacity for an unknown type = %d; want 400", code)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(out.Instances[0].InstanceId)
		if code := postJSON(t, w, "/_sim/interrupt", map[string]string{"instanceId": id}); code != http.StatusOK {
			t.Fatalf("POST /_sim/interrupt = %d", code)
		}
		state := func() types.InstanceStateName {
			return describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0].State.Name
		}
		if s := state(); s != types.InstanceStateNameRunning {
			t.Errorf("during the notice: %s; want running", s)
		}
		w.clock.Advance(2 * time.Minute)
		got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0]
		if got.State.Name != types.InstanceStateNameTerminated || aws.ToString(got.StateReason.Code) != "Server.SpotInstanceTermination" {
			t.Errorf("after the notice: %s (%s); want terminated by Server.SpotInstanceTermination", got.State.Name, aws.ToString(got.StateReason.Code))
		}
	})

	t.Run("latency", func(t *testing.T) {
		postJSON(t, w, "/_sim/latency", map[string]any{"action": "DescribeAvailabilityZones", "ms": 50})
		start := time.Now()
		if _, err := w.ec2.DescribeAvailabilityZones(ctx(t), &ec2.DescribeAvailabilityZonesInput{}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("call took %v with 50 ms injected latency", d)
		}
	})

	t.Run("mfa", func(t *testing.T) {
		const serial = "arn:aws:iam::123456789012:mfa/other"
		if code := postJSON(t, w, "/_sim/mfa", map[string]string{"serialNumber": serial, "secret": "not base32!"}); code != http.StatusBadRequest {
			t.Errorf("bad secret accepted: %d", code)
		}
		if code := postJSON(t, w, "/_sim/mfa", map[string]string{"serialNumber": serial, "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}); code != http.StatusOK {
			t.Fatalf("POST /_sim/mfa = %d", code)
		}
		found := false
		for _, s := range w.sim.State().MFADevices {
			found = found || s == serial
		}
		if !found {
			t.Errorf("registered device missing from state")
		}
	})

	t.Run("state and reset", func(t *testing.T) {
		resp, err := w.srv.Client().Get(w.srv.URL + "/_sim/state")
		if err != nil {
			t.Fatal(err)
		}
		var st awssim.State
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		use1 := regionState(t, st, "us-east-1")
		if len(st.Regions) < 30 || len(use1.Instances) == 0 || len(use1.Templates) != 1 {
			t.Errorf("state: %d regions, %d instances, %d templates", len(st.Regions), len(use1.Instances), len(use1.Templates))
		}
		if code := postJSON(t, w, "/_sim/reset", struct{}{}); code != http.StatusOK {
			t.Fatalf("POST /_sim/reset = %d", code)
		}
		if n := len(describeAll(t, w.ec2, &ec2.DescribeInstancesInput{})); n != 0 {
			t.Errorf("%d instances after reset", n)
		}
		if len(w.sim.State().Latency) != 0 {
			t.Errorf("latency survived reset")
		}
	})
}
