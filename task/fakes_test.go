package task

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
)

// fakeTokens accepts the raw token "good" as tok-1 under pol. Each method
// counts its calls, so a test can tell which steps the guard reached.
type fakeTokens struct {
	pol policy.Policy
	mfa api.MFAInfo
	// mfaErr is what CheckMFA answers.
	mfaErr error

	mu    sync.Mutex
	calls map[string]int
}

var _ Tokens = (*fakeTokens)(nil)

func (f *fakeTokens) called(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
}

func (f *fakeTokens) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeTokens) Authenticate(_ context.Context, raw string) (capability.Token, error) {
	f.called("Authenticate")
	if raw != "good" {
		return capability.Token{}, apperr.New(apperr.TokenInvalid, "capability token not accepted")
	}
	return capability.Token{Info: capability.Info{ID: "tok-1", Policy: api.Policy(f.pol), MFA: f.mfa}, Policy: f.pol}, nil
}

func (f *fakeTokens) CheckMFA(context.Context, capability.Token, string) error {
	f.called("CheckMFA")
	return f.mfaErr
}

func (f *fakeTokens) SettleMFA(_ context.Context, _ capability.Token, err error) error {
	f.called("SettleMFA")
	return err
}

func (f *fakeTokens) Credentials(context.Context, capability.Token) (capability.Credentials, error) {
	f.called("Credentials")
	return capability.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
}

// fakeSpot answers every call at once; Launch admits through the spec's
// Admit (the ledger lists the token's instances through Live), as
// spot.Client does with AdmitCounts, then starts one instance per count
// and records the spec.
type fakeSpot struct {
	// running is what Live lists as the token's.
	running []spot.Instance
	// sessionErr is STS's answer to the session (an AWS MFA code refused).
	sessionErr error
	// terminated is what Terminate reports ended.
	terminated []string

	mu       sync.Mutex
	launched []spot.LaunchSpec
	fleetCap []float64  // the total price cap each admit returned
	priced   [][]string // the types each Price call asked for
	calls    []string
}

var _ Spot = (*fakeSpot)(nil)

func (f *fakeSpot) call(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
}

func (f *fakeSpot) Session(context.Context, string, spot.Credentials, spot.MFA, string) (aws.CredentialsProvider, error) {
	f.call("Session")
	if f.sessionErr != nil {
		return nil, f.sessionErr
	}
	return aws.AnonymousCredentials{}, nil
}

// ExpandTypes stands a pattern ("t3.*") for t3.micro and t3.small.
func (f *fakeSpot) ExpandTypes(_ context.Context, _ aws.CredentialsProvider, _ string, list []string) ([]string, []string, error) {
	var out []string
	for _, t := range list {
		if t == "t3.*" {
			out = append(out, "t3.micro", "t3.small")
			continue
		}
		out = append(out, t)
	}
	return out, nil, nil
}

func (f *fakeSpot) Launch(_ context.Context, spec spot.LaunchSpec) (spot.LaunchResult, error) {
	f.call("Launch")
	f.mu.Lock()
	f.launched = append(f.launched, spec)
	f.mu.Unlock()
	fleetCap, err := spec.Admit(nil) // AdmitCounts: the ledger lists through Live
	f.mu.Lock()
	f.fleetCap = append(f.fleetCap, fleetCap)
	f.mu.Unlock()
	if err != nil {
		return spot.LaunchResult{}, err
	}
	var ins []spot.Instance
	for i := range spec.Count {
		ins = append(ins, spot.Instance{ID: "i-0000000" + string(rune('a'+i)), Type: spec.InstanceTypes[0], State: "pending",
			ExpiresAt: time.Unix(0, 0).Add(spec.TTL)})
	}
	spec.Started(ins)
	return spot.LaunchResult{Instances: ins}, nil
}

func (f *fakeSpot) Terminate(context.Context, aws.CredentialsProvider, string, string, []string, bool) (spot.TerminateResult, error) {
	f.call("Terminate")
	return spot.TerminateResult{Terminated: f.terminated}, nil
}

func (f *fakeSpot) StatusPaged(context.Context, aws.CredentialsProvider, string, string, []string, spot.StatusPage) (spot.StatusResult, error) {
	f.call("Status")
	return spot.StatusResult{Instances: f.running}, nil
}

func (f *fakeSpot) Price(_ context.Context, _ aws.CredentialsProvider, _ string, types []string) (spot.PriceResult, error) {
	f.call("Price")
	f.mu.Lock()
	f.priced = append(f.priced, types)
	f.mu.Unlock()
	return spot.PriceResult{Quotes: []spot.PriceQuote{{Type: types[0]}}}, nil
}

func (f *fakeSpot) Cancel(context.Context, aws.CredentialsProvider, string, string) (spot.CancelResult, error) {
	f.call("Cancel")
	return spot.CancelResult{Cancelled: []string{}}, nil
}

func (f *fakeSpot) Extend(context.Context, aws.CredentialsProvider, string, string, []string, bool, time.Duration) (spot.ExtendResult, error) {
	f.call("Extend")
	return spot.ExtendResult{Extended: []spot.Extended{}}, nil
}

func (f *fakeSpot) Live(context.Context, aws.CredentialsProvider, string, string, bool) ([]spot.Instance, error) {
	f.call("Live")
	return f.running, nil
}

func (f *fakeSpot) specs() []spot.LaunchSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]spot.LaunchSpec(nil), f.launched...)
}

// testPolicy allows launch and status of t3.micro in us-east-1.
func testPolicy() policy.Policy {
	return policy.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"},
		MaxCount: 2, MaxRunning: 4, MaxTTL: policy.Duration(2 * time.Hour), Tasks: []string{"launch", "status"}}
}

// decoded is a source whose task is already decoded, as a reconciler's
// would be: its proof is what the test says.
func decoded(t Task, p Proof) Source {
	return Source{
		Name:   "test",
		Verify: func(context.Context, capability.Token, Request) (Proof, error) { return p, nil },
		Decode: func([]byte, Proof) (Task, error) { return t, t.Validate() },
	}
}
