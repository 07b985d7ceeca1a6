package task

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/spot"
)

// TestAuditNamesTheRule: a launch a policy refuses is audited with the
// rule that refused it; one that succeeds, or fails on AWS's side, is not
// given details.
func TestAuditNamesTheRule(t *testing.T) {
	for name, tc := range map[string]struct {
		count       int
		running     int
		wantOutcome string
		wantDetails string
	}{
		"past maxRunning":   {count: 2, running: 3, wantOutcome: "refused", wantDetails: "rule maxRunning: 3 running + 2 asked exceeds 4"},
		"past maxCount":     {count: 3, wantOutcome: "refused", wantDetails: "rule maxCount"},
		"at maxRunning, ok": {count: 1, running: 3, wantOutcome: "ok"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			running := make([]spot.Instance, tc.running)
			for i := range running {
				running[i] = spot.Instance{ID: "i-" + string(rune('a'+i)), State: "running"}
			}
			p := &Pipeline{Tokens: &fakeTokens{pol: testPolicy()}, Spot: &fakeSpot{running: running}, Inflight: inflight.New(0, nil),
				Audit: slog.New(slog.NewJSONHandler(&buf, nil))}
			_, _, _ = p.Run(context.Background(), Request{Token: "good"},
				decoded(Task{TaskRequest: api.TaskRequest{Task: "launch", Count: new(tc.count)}}, Proof{Delivery: "d-1"}))
			var ev map[string]any
			if err := json.Unmarshal(buf.Bytes(), &ev); err != nil {
				t.Fatalf("audit %q: %v", buf.String(), err)
			}
			if ev["outcome"] != tc.wantOutcome {
				t.Errorf("outcome %v, want %s: %s", ev["outcome"], tc.wantOutcome, buf.String())
			}
			d, has := ev["details"].(string)
			switch {
			case tc.wantDetails == "" && has:
				t.Errorf("details %q on a task that was not refused", d)
			case tc.wantDetails != "" && !strings.Contains(d, tc.wantDetails):
				t.Errorf("details %q, want %q in them", d, tc.wantDetails)
			}
		})
	}
}

func TestClip(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		n    int
		want string
	}{
		"under":           {in: "abc", n: 4, want: "abc"},
		"exactly":         {in: "abcd", n: 4, want: "abcd"},
		"one past":        {in: "abcde", n: 4, want: "abcd…"},
		"inside a rune":   {in: "ab€d", n: 3, want: "ab…"},
		"at a rune's end": {in: "ab€d", n: 5, want: "ab€…"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := clip(tc.in, tc.n); got != tc.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
