package handlers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// BenchmarkTaskReply builds and encodes a status reply of 50 instances, the
// work each task reply does once the task is done:
// go test -run '^$' -bench TaskReply -benchmem ./handlers/
func BenchmarkTaskReply(b *testing.B) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st := &spot.StatusResult{HourlyCost: money.FromDollars(0.52), CostSoFar: money.FromDollars(12.3456)}
	for range 50 {
		st.Instances = append(st.Instances, spot.Instance{ID: "i-0123456789abcdef0", Type: "t3.micro", AZ: "us-east-1a", Lifecycle: "spot",
			State: "running", Price: money.FromDollars(0.0104), ExpiresAt: now.Add(time.Hour), PrivateIP: "10.0.0.1",
			LaunchTime: now, TTLLeftSeconds: 3600, CostSoFar: money.FromDollars(0.0104)})
	}
	g, res := replyGuard("status", nil), task.Result{Status: st}
	b.ReportAllocs()
	for b.Loop() {
		out := TaskDeps{}.replyBody(g, res)
		out.Code = 200
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
}
