package awssim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/awssim"
)

// control calls the control API and decodes a JSON answer into out (if
// not nil); it returns the status and the raw body.
func control(t *testing.T, w *testWorld, method, path string, body, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

func TestVirtualClockControl(t *testing.T) {
	type step struct {
		body       map[string]any
		wantStatus int
		wantTime   time.Time // zero: unchanged from the step before
		wantErr    string
	}
	year := 366 * 24 * time.Hour
	for name, steps := range map[string][]step{
		"advance":                       {{body: map[string]any{"advance": "10m"}, wantStatus: 200, wantTime: epoch.Add(10 * time.Minute)}},
		"advance zero":                  {{body: map[string]any{"advance": "0s"}, wantStatus: 200, wantTime: epoch}},
		"advance at the one-year limit": {{body: map[string]any{"advance": year.String()}, wantStatus: 200, wantTime: epoch.Add(year)}},
		"advance past the limit":        {{body: map[string]any{"advance": (year + time.Nanosecond).String()}, wantStatus: 400, wantErr: "above the limit"}},
		"advance backwards":             {{body: map[string]any{"advance": "-1ns"}, wantStatus: 400, wantErr: "only moves forward"}},
		"advance not a duration":        {{body: map[string]any{"advance": "10"}, wantStatus: 400, wantErr: "advance"}},
		"set forward":                   {{body: map[string]any{"set": "2026-03-15T00:00:00Z"}, wantStatus: 200, wantTime: time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)}},
		"set to now exactly":            {{body: map[string]any{"set": epoch.Format(time.RFC3339Nano)}, wantStatus: 200, wantTime: epoch}},
		"set a nanosecond back":         {{body: map[string]any{"set": epoch.Add(-1).Format(time.RFC3339Nano)}, wantStatus: 400, wantErr: "only moves forward"}},
		"set not a time":                {{body: map[string]any{"set": "tomorrow"}, wantStatus: 400, wantErr: "set"}},
		"set then advance":              {{body: map[string]any{"set": "2026-03-15T00:00:00Z", "advance": "1h"}, wantStatus: 200, wantTime: time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)}},
		"empty body":                    {{body: map[string]any{}, wantStatus: 400, wantErr: "give advance"}},
		"unknown field":                 {{body: map[string]any{"rewind": "1h"}, wantStatus: 400, wantErr: "unknown field"}},
		"steps add up": {
			{body: map[string]any{"advance": "90s"}, wantStatus: 200, wantTime: epoch.Add(90 * time.Second)},
			{body: map[string]any{"advance": "30s"}, wantStatus: 200, wantTime: epoch.Add(2 * time.Minute)},
			{body: map[string]any{"set": epoch.Add(time.Minute).Format(time.RFC3339)}, wantStatus: 400, wantErr: "only moves forward"},
			{body: map[string]any{"advance": "1ns"}, wantStatus: 200, wantTime: epoch.Add(2*time.Minute + 1)},
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{Start: epoch})
			want := epoch
			for i, st := range steps {
				var got awssim.ClockState
				status, raw := control(t, w, http.MethodPost, "/_sim/clock", st.body, &got)
				if status != st.wantStatus || !strings.Contains(raw, st.wantErr) {
					t.Fatalf("step %d: POST /_sim/clock %v = %d %s; want %d with %q", i, st.body, status, raw, st.wantStatus, st.wantErr)
				}
				if !st.wantTime.IsZero() {
					want = st.wantTime
				}
				if now := w.sim.Now(); !now.Equal(want) {
					t.Errorf("step %d: sim time %v; want %v", i, now, want)
				}
				if status == http.StatusOK && (!got.Time.Equal(want) || !got.Frozen) {
					t.Errorf("step %d: answer %+v; want time %v, frozen", i, got, want)
				}
			}
		})
	}
}

// TestFreezeFollowsTheBaseClock: a running sim clock follows the base
// clock plus what was added; frozen, it ignores the base clock; thawed, it
// goes on from where it stood.
func TestFreezeFollowsTheBaseClock(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	check := func(step string, want time.Time, frozen bool) {
		t.Helper()
		var got awssim.ClockState
		if status, raw := control(t, w, http.MethodGet, "/_sim/clock", nil, &got); status != 200 {
			t.Fatalf("%s: GET /_sim/clock = %d %s", step, status, raw)
		}
		if !got.Time.Equal(want) || got.Frozen != frozen {
			t.Errorf("%s: clock %+v; want %v frozen=%v", step, got, want, frozen)
		}
	}
	check("start", epoch, false)
	w.clock.Advance(time.Minute)
	check("base moved", epoch.Add(time.Minute), false)
	if _, err := w.sim.AdvanceClock(time.Hour); err != nil {
		t.Fatal(err)
	}
	check("advanced", epoch.Add(time.Hour+time.Minute), false)
	control(t, w, http.MethodPost, "/_sim/clock", map[string]any{"freeze": true}, nil)
	w.clock.Advance(time.Minute)
	check("frozen while the base moved", epoch.Add(time.Hour+time.Minute), true)
	control(t, w, http.MethodPost, "/_sim/clock", map[string]any{"advance": "1s"}, nil)
	check("frozen and advanced", epoch.Add(time.Hour+time.Minute+time.Second), true)
	control(t, w, http.MethodPost, "/_sim/clock", map[string]any{"freeze": false}, nil)
	check("thawed", epoch.Add(time.Hour+time.Minute+time.Second), false)
	w.clock.Advance(time.Minute)
	check("thawed, base moved", epoch.Add(time.Hour+2*time.Minute+time.Second), false)
}

// TestBootDelayThroughTheSDK launches with EC2's 20–90 s boot delay on a
// virtual clock: every instance is pending until its own running time and
// running from it exactly, none before 20 s, all by 90 s.
func TestBootDelayThroughTheSDK(t *testing.T) {
	boot := awssim.EC2BootDelay()
	w := mustWorld(t, awssim.Options{Start: epoch, Boot: &boot})
	out, err := w.ec2.RunInstances(ctx(t), onDemandRun(20))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Instances[0].State.Name; got != types.InstanceStateNamePending {
		t.Errorf("RunInstances answers %s; want pending", got)
	}
	states := func() map[string]types.InstanceStateName {
		m := map[string]types.InstanceStateName{}
		for _, in := range describeAll(t, w.ec2, &ec2.DescribeInstancesInput{}) {
			m[aws.ToString(in.InstanceId)] = in.State.Name
		}
		return m
	}
	runningAt := map[string]time.Time{}
	for _, r := range w.sim.State().Regions {
		for _, in := range r.Instances {
			runningAt[in.InstanceID] = in.RunningAt
		}
	}
	if len(runningAt) != 20 {
		t.Fatalf("state shows %d instances; want 20", len(runningAt))
	}
	var first, last time.Time
	for _, at := range runningAt {
		if d := at.Sub(epoch); d < 20*time.Second || d > 90*time.Second {
			t.Errorf("boot delay %v outside 20–90 s", d)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if last.Sub(first) < 30*time.Second {
		t.Errorf("20 boot delays span only %v: not drawn per instance", last.Sub(first))
	}
	for id, st := range states() {
		if st != types.InstanceStateNamePending {
			t.Errorf("%s is %s at launch; want pending", id, st)
		}
	}
	// Step, in running order, to just before and exactly at each
	// instance's running time.
	ids := slices.SortedFunc(maps.Keys(runningAt), func(a, b string) int { return runningAt[a].Compare(runningAt[b]) })
	for _, id := range ids {
		at := runningAt[id]
		if _, err := w.sim.SetClock(at.Add(-time.Nanosecond)); err != nil {
			t.Fatal(err)
		}
		if st := states()[id]; st != types.InstanceStateNamePending {
			t.Errorf("%s 1 ns before its running time: %s; want pending", id, st)
		}
		if _, err := w.sim.SetClock(at); err != nil {
			t.Fatal(err)
		}
		if st := states()[id]; st != types.InstanceStateNameRunning {
			t.Errorf("%s at its running time: %s; want running", id, st)
		}
	}
	if _, err := w.sim.SetClock(epoch.Add(90 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for id, st := range states() {
		if st != types.InstanceStateNameRunning {
			t.Errorf("%s at 90 s: %s; want running", id, st)
		}
	}
}

func TestBootDelayControl(t *testing.T) {
	for name, tc := range map[string]struct {
		body       any
		wantStatus int
		wantBoot   string
	}{
		"default is EC2's": {map[string]any{}, 200, "uniform 20s–1m30s"},
		"fixed":            {map[string]any{"distribution": "fixed", "delay": "5s"}, 200, "5s"},
		"lognormal":        {map[string]any{"distribution": "lognormal", "median": "40s", "sigma": 0.5, "min": "20s", "max": "2m"}, 200, "lognormal(median 40s, sigma 0.5) in [20s, 2m0s]"},
		"max below min":    {map[string]any{"distribution": "uniform", "min": "90s", "max": "20s"}, 400, ""},
		"unknown field":    {map[string]any{"distribution": "uniform", "mean": "20s"}, 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{Start: epoch})
			var got map[string]string
			status, raw := control(t, w, http.MethodPost, "/_sim/boot", tc.body, &got)
			if status != tc.wantStatus {
				t.Fatalf("POST /_sim/boot = %d %s; want %d", status, raw, tc.wantStatus)
			}
			want := tc.wantBoot
			if status != http.StatusOK {
				want = "0s" // unchanged
			}
			if st := w.sim.State(); st.Boot != want {
				t.Errorf("state bootDelay %q; want %q", st.Boot, want)
			}
		})
	}
}

// TestEverythingFollowsTheVirtualClock: after a day's jump, launch times,
// spot price history and STS expirations are the sim's time, not the wall
// clock's.
func TestEverythingFollowsTheVirtualClock(t *testing.T) {
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) // far from the wall clock
	w := mustWorld(t, awssim.Options{Start: start})
	now, err := w.sim.AdvanceClock(24*time.Hour + 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(out.Instances[0].LaunchTime); !got.Equal(now) {
		t.Errorf("launch time %v; want the sim's %v", got, now)
	}
	hist, err := w.ec2.DescribeSpotPriceHistory(ctx(t), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []types.InstanceType{types.InstanceTypeT3Micro}, AvailabilityZone: aws.String("us-east-1a"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.SpotPriceHistory) == 0 {
		t.Fatal("no spot price history")
	}
	for _, p := range hist.SpotPriceHistory {
		if ts := aws.ToTime(p.Timestamp); ts.After(now) || ts.Before(start) {
			t.Errorf("price point at %v; want within the virtual day %v–%v", ts, start, now)
		}
	}
	tok, err := w.sts.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(tok.Credentials.Expiration); !got.Equal(now.Add(15 * time.Minute)) {
		t.Errorf("session expires %v; want the sim's time + 15 min, %v", got, now.Add(15*time.Minute))
	}
}
