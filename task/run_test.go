package task

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot"
)

// endedLedger is the nil ledger (it counts only what EC2 lists) that also
// records what a terminate told it ended.
type endedLedger struct {
	Ledger
	mu    sync.Mutex
	ended []string
}

func (l *endedLedger) Ended(_ context.Context, _ string, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = append(l.ended, ids...)
}

// Each task reaches only its own spot call, with a session made for it;
// price names no type the policy does not allow; terminate tells the
// ledger what ended; STS refusing an AWS MFA code stops the task there
// and counts against the token.
func TestRunTasks(t *testing.T) {
	const id = "i-0123456789abcdef0"
	tests := map[string]struct {
		task       Task
		mfa        api.MFAInfo
		sessionErr error
		terminated []string
		wantCode   string
		wantCalls  []string // spot calls, in order
		wantPriced [][]string
		wantEnded  []string
	}{
		"status":                        {task: Task{TaskRequest: api.TaskRequest{Task: "status"}}, wantCalls: []string{"Session", "Status"}},
		"price of a type it may launch": {task: Task{TaskRequest: api.TaskRequest{Task: "price", InstanceTypes: []string{"t3.small"}}}, wantCalls: []string{"Session", "Price"}, wantPriced: [][]string{{"t3.small"}}},
		"price of every type it may launch": {task: Task{TaskRequest: api.TaskRequest{Task: "price"}}, wantCalls: []string{"Session", "Price"},
			wantPriced: [][]string{{"t3.micro", "t3.small"}}},
		"price of a type outside the policy": {task: Task{TaskRequest: api.TaskRequest{Task: "price", InstanceTypes: []string{"m5.large"}}}, wantCode: apperr.PolicyDenied, wantCalls: []string{"Session"}},
		"terminate": {task: Task{TaskRequest: api.TaskRequest{Task: "terminate", InstanceIDs: []string{id}}}, terminated: []string{id},
			wantCalls: []string{"Session", "Terminate"}, wantEnded: []string{id}},
		"cancel": {task: Task{TaskRequest: api.TaskRequest{Task: "cancel"}}, wantCalls: []string{"Session", "Cancel"}},
		"STS refuses the AWS MFA code": {task: Task{TaskRequest: api.TaskRequest{Task: "status", MFACode: "123456"}},
			mfa:        api.MFAInfo{Type: api.MFAAWS, SerialNumber: "arn:aws:iam::123456789012:mfa/ops"},
			sessionErr: apperr.New(apperr.MFAInvalid, "MultiFactorAuthentication failed"), wantCode: apperr.MFAInvalid, wantCalls: []string{"Session"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			pol := testPolicy()
			pol.InstanceTypes = []string{"t3.*"}
			pol.Tasks = []string{"launch", "terminate", "status", "price", "cancel"}
			toks := &fakeTokens{pol: pol, mfa: tt.mfa}
			sp := &fakeSpot{sessionErr: tt.sessionErr, terminated: tt.terminated}
			led := &endedLedger{Ledger: (*inflight.Ledger)(nil)}
			p := &Pipeline{Tokens: toks, Spot: sp, Inflight: led}
			_, res, err := p.Run(context.Background(), Request{Token: "good"}, decoded(tt.task, Proof{}))
			if got := apperr.Code(err); got != tt.wantCode {
				t.Fatalf("Run(%s) = %v (%q); want %q", tt.task.Task, err, got, tt.wantCode)
			}
			if tt.wantCode == "" && res == (Result{}) {
				t.Errorf("Run(%s) returned no result", tt.task.Task)
			}
			if !slices.Equal(sp.calls, tt.wantCalls) {
				t.Errorf("spot calls = %v; want %v", sp.calls, tt.wantCalls)
			}
			if !slices.EqualFunc(sp.priced, tt.wantPriced, slices.Equal) {
				t.Errorf("priced %v; want %v", sp.priced, tt.wantPriced)
			}
			if !slices.Equal(led.ended, tt.wantEnded) {
				t.Errorf("ledger told %v ended; want %v", led.ended, tt.wantEnded)
			}
			if toks.count("SettleMFA") != 1 {
				t.Errorf("SettleMFA called %d times; want once, with STS's verdict", toks.count("SettleMFA"))
			}
		})
	}
}

// A launch is admitted against what the token runs plus its launches in
// flight, at and past maxRunning, and holds the hourly budget left (no
// more than count × maxPrice) as the fleet's total price cap.
func TestLaunchAdmission(t *testing.T) {
	at := func(n int, price float64) []spot.Instance {
		out := make([]spot.Instance, n)
		for i := range out {
			out[i] = spot.Instance{ID: "i-run" + string(rune('a'+i)), State: "running", Price: money.FromDollars(price)}
		}
		return out
	}
	tests := map[string]struct {
		running   []spot.Instance
		inFlight  int     // instances another launch of the token holds
		spend     float64 // the policy's maxHourlySpend; 0 for none
		maxPrice  float64 // the policy's maxPrice; 0 for none
		count     int
		wantCode  string
		wantIn    string // in the refusal's details
		wantCap   float64
		wantStart int
	}{
		"under maxRunning":          {running: at(2, 0), count: 2, wantStart: 2},
		"at maxRunning":             {running: at(3, 0), count: 1, wantStart: 1},
		"past maxRunning":           {running: at(3, 0), count: 2, wantCode: apperr.PolicyDenied, wantIn: "rule maxRunning: 3 running + 2 asked exceeds 4"},
		"a launch in flight counts": {running: at(2, 0), inFlight: 1, count: 2, wantCode: apperr.PolicyDenied, wantIn: "counting 1 instances"},
		"the budget left caps the fleet": {running: at(2, 0.2), spend: 1, count: 2,
			wantCap: 0.6, wantStart: 2},
		"count × maxPrice caps the fleet": {running: at(2, 0.2), spend: 1, maxPrice: 0.1, count: 2,
			wantCap: 0.2, wantStart: 2},
		"the budget spent": {running: at(2, 0.5), spend: 1, count: 1, wantCode: apperr.PolicyDenied,
			wantIn: "rule maxHourlySpend: $1.0000/h already running of $1.0000/h"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			pol := testPolicy()
			pol.MaxHourlySpend, pol.MaxPrice = tt.spend, tt.maxPrice
			led := inflight.New(0, nil)
			if tt.inFlight > 0 {
				tk, err := led.Admit(ctx, "tok-1", "another-launch", nil, func(inflight.Counted) (inflight.Claim, error) {
					return inflight.Claim{Count: tt.inFlight}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				defer tk.Done(nil)
			}
			sp := &fakeSpot{running: tt.running}
			p := &Pipeline{Tokens: &fakeTokens{pol: pol}, Spot: sp, Inflight: led}
			_, res, err := p.Run(ctx, Request{Token: "good"}, decoded(Task{TaskRequest: api.TaskRequest{Task: "launch", Count: new(tt.count)}}, Proof{Delivery: "d-1"}))
			if got := apperr.Code(err); got != tt.wantCode || !strings.Contains(apperr.Details(err), tt.wantIn) {
				t.Fatalf("launch = %v; want %q with %q", err, tt.wantCode, tt.wantIn)
			}
			if len(sp.fleetCap) != 1 || sp.fleetCap[0] < tt.wantCap-1e-9 || sp.fleetCap[0] > tt.wantCap+1e-9 {
				t.Errorf("fleet price cap %v; want %g", sp.fleetCap, tt.wantCap)
			}
			if tt.wantCode == "" && len(res.Launch.Instances) != tt.wantStart {
				t.Errorf("started %d; want %d", len(res.Launch.Instances), tt.wantStart)
			}
		})
	}
}
