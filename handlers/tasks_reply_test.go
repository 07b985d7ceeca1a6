package handlers

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// replyCases are task results at the edges of the reply's shape: empty
// lists, zero amounts, a replay without pools, amounts of one micro-dollar
// and of many digits.
func replyCases() map[string]struct {
	task     string
	warnings []string
	res      task.Result
	want     string
} {
	exp := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
	launched := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	full := spot.Instance{ID: "i-0abc", Type: "t3.micro", AZ: "us-east-1a", Lifecycle: "spot", State: "running",
		Price: money.FromDollars(0.0104), ExpiresAt: exp, PrivateIP: "10.0.0.1", PublicIP: "198.51.100.1"}
	listed := spot.Instance{ID: "i-0def", Type: "c5.large", Lifecycle: "on-demand", State: "terminated",
		LaunchTime: launched, TTLLeftSeconds: 0, CostSoFar: money.FromDollars(123456.789012), Interrupted: true, StateReason: "spot interruption"}
	return map[string]struct {
		task     string
		warnings []string
		res      task.Result
		want     string
	}{
		"launch": {want: `{"code":200,"hourlyCost":0.0104,"instances":[{"az":"us-east-1a","expiresAt":"2026-11-30T13:00:00Z","id":"i-0abc","lifecycle":"spot","price":0.0104,"privateIp":"10.0.0.1","publicIp":"198.51.100.1","state":"running","type":"t3.micro"}],"pools":[{"az":"us-east-1a","price":0.000001,"type":"t3.micro"},{"subnet":"subnet-1","type":"t3.small"}],"region":"us-east-1","requestId":"req-1","task":"launch","template":"spotter-abc","tokenId":"tok_1","warnings":["from the decoder","from the launch"]}`, task: "launch", warnings: []string{"from the decoder"}, res: task.Result{Launch: &spot.LaunchResult{
			Instances: []spot.Instance{full}, Pools: []spot.Pool{{Type: "t3.micro", AZ: "us-east-1a", Price: money.FromDollars(0.000001)}, {Type: "t3.small", Subnet: "subnet-1"}},
			Warnings: []string{"from the launch"}, Template: "spotter-abc", HourlyCost: money.FromDollars(0.0104)}}},
		"launch, dry run, nothing started": {want: `{"code":200,"dryRun":true,"hourlyCost":3,"instances":[],"pools":[],"region":"us-east-1","requestId":"req-1","task":"launch","tokenId":"tok_1"}`, task: "launch", res: task.Result{Launch: &spot.LaunchResult{
			Pools: []spot.Pool{}, DryRun: true, HourlyCost: money.FromDollars(3)}}},
		"launch, replayed": {want: `{"code":200,"instances":[{"az":"us-east-1a","expiresAt":"2026-11-30T13:00:00Z","id":"i-0abc","lifecycle":"spot","price":0.0104,"privateIp":"10.0.0.1","publicIp":"198.51.100.1","state":"running","type":"t3.micro"}],"pools":null,"region":"us-east-1","replayed":true,"requestId":"req-1","task":"launch","template":"spotter-abc","tokenId":"tok_1"}`, task: "launch", res: task.Result{Launch: &spot.LaunchResult{
			Instances: []spot.Instance{full}, Replayed: true, Template: "spotter-abc"}}},
		"terminate, nothing": {want: `{"code":200,"region":"us-east-1","requestId":"req-1","task":"terminate","terminated":[],"tokenId":"tok_1"}`, task: "terminate", res: task.Result{Terminate: &spot.TerminateResult{}}},
		"terminate": {want: `{"cancelledRequests":["sir-1"],"code":200,"refused":[{"id":"i-0zzz","reason":"not launched by this token"}],"region":"us-east-1","requestId":"req-1","task":"terminate","terminated":["i-0abc"],"tokenId":"tok_1"}`, task: "terminate", res: task.Result{Terminate: &spot.TerminateResult{Terminated: []string{"i-0abc"},
			Refused: []spot.RefusedID{{ID: "i-0zzz", Reason: spot.RefusedForeign}}, CancelledRequests: []string{"sir-1"}}}},
		"status, nothing": {want: `{"code":200,"costSoFar":0,"hourlyCost":0,"instances":[],"region":"us-east-1","requestId":"req-1","task":"status","tokenId":"tok_1"}`, task: "status", res: task.Result{Status: &spot.StatusResult{}}},
		"status": {want: `{"code":200,"costSoFar":123456.799412,"hourlyCost":0.0104,"instances":[{"az":"us-east-1a","expiresAt":"2026-11-30T13:00:00Z","id":"i-0abc","lifecycle":"spot","price":0.0104,"privateIp":"10.0.0.1","publicIp":"198.51.100.1","state":"running","type":"t3.micro"},{"costSoFar":123456.789012,"id":"i-0def","interrupted":true,"launchTime":"2026-11-30T12:00:00Z","lifecycle":"on-demand","state":"terminated","stateReason":"spot interruption","type":"c5.large"}],"interrupted":["i-0def"],"refused":[{"id":"i-0zzz","reason":"not an instance of this token in this region"}],"region":"us-east-1","requestId":"req-1","task":"status","tokenId":"tok_1","warnings":["from the decoder","from status"]}`, task: "status", warnings: []string{"from the decoder"}, res: task.Result{Status: &spot.StatusResult{
			Instances: []spot.Instance{full, listed}, Interrupted: []string{"i-0def"}, HourlyCost: money.FromDollars(0.0104),
			CostSoFar: money.FromDollars(123456.799412), Warnings: []string{"from status"}, Refused: []spot.RefusedID{{ID: "i-0zzz", Reason: spot.RefusedNotMine}}}}},
		"price": {want: `{"code":200,"prices":[{"az":"us-east-1a","onDemand":0.0104,"perVcpu":0.00155,"savingPct":70.2,"spot":0.0031,"type":"t3.micro","vcpu":2},{"az":"us-east-1b","spot":0.5,"type":"x9.odd"}],"region":"us-east-1","requestId":"req-1","task":"price","tokenId":"tok_1","warnings":["no on-demand price for x9.odd"]}`, task: "price", res: task.Result{Price: &spot.PriceResult{Quotes: []spot.PriceQuote{
			{Type: "t3.micro", AZ: "us-east-1a", VCPU: 2, Spot: money.FromDollars(0.0031), PerVCPU: money.FromDollars(0.00155), OnDemand: money.FromDollars(0.0104), SavingPct: 70.2},
			{Type: "x9.odd", AZ: "us-east-1b", Spot: money.FromDollars(0.5)}}, Warnings: []string{"no on-demand price for x9.odd"}}}},
		"price, no quotes": {want: `{"code":200,"prices":[],"region":"us-east-1","requestId":"req-1","task":"price","tokenId":"tok_1"}`, task: "price", res: task.Result{Price: &spot.PriceResult{Quotes: []spot.PriceQuote{}}}},
		"cancel, nothing":  {want: `{"cancelled":[],"code":200,"region":"us-east-1","requestId":"req-1","task":"cancel","tokenId":"tok_1"}`, task: "cancel", res: task.Result{Cancel: &spot.CancelResult{}}},
		"cancel":           {want: `{"cancelled":["sir-1","sir-2"],"code":200,"region":"us-east-1","requestId":"req-1","task":"cancel","tokenId":"tok_1"}`, task: "cancel", res: task.Result{Cancel: &spot.CancelResult{Cancelled: []string{"sir-1", "sir-2"}}}},
	}
}

func replyGuard(name string, warnings []string) task.Guarded {
	return task.Guarded{RequestID: "req-1", Region: "us-east-1", Req: policy.Request{Task: name},
		Token: capability.Token{Info: capability.Info{ID: "tok_1"}},
		Task:  task.Task{TaskRequest: api.TaskRequest{Task: name}, Warnings: warnings}}
}

// TestReplyBody pins each reply to the JSON the map-built replies gave
// before replies were typed (generated by that code): the same fields,
// values and absences. Key order is not compared: JSON gives it no meaning.
func TestReplyBody(t *testing.T) {
	for name, tt := range replyCases() {
		t.Run(name, func(t *testing.T) {
			out := TaskDeps{}.replyBody(replyGuard(tt.task, tt.warnings), tt.res)
			out.Code = 200
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("replyBody(%s) =\n%s\nwant\n%s", name, got, tt.want)
			}
		})
	}
}
