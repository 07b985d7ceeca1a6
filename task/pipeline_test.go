package task

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/spot"
)

// The guard runs its steps in order and stops at the first that fails:
// a request that fails one reaches nothing after it (no MFA code spent, no
// slot held, no credentials unsealed).
func TestGuardStopsAtTheFirstFailure(t *testing.T) {
	all := []string{"Authenticate", "Verify", "Decode", "Reserve", "CheckMFA", "Credentials"}
	tests := []struct {
		name      string
		raw       string
		bodyErr   error
		verifyErr error
		task      Task
		reserve   error
		mfaErr    error
		wantCode  string // "" for a task that ran
		wantSteps []string
		// wantVerified: the source's proof held, so the caller is genuine.
		wantVerified bool
	}{
		{name: "unknown token", raw: "forged", wantCode: apperr.TokenInvalid, wantSteps: all[:1]},
		{name: "body past the limit", raw: "good", bodyErr: apperr.New(apperr.TooLarge, "too large"), wantCode: apperr.TooLarge, wantSteps: all[:1]},
		{name: "forged signature", raw: "good", verifyErr: apperr.New(apperr.SignatureInvalid, "no"), wantCode: apperr.SignatureInvalid, wantSteps: all[:2]},
		{name: "undecodable", raw: "good", task: Task{}, wantCode: apperr.Invalid, wantSteps: all[:3], wantVerified: true},
		{name: "outside the policy", raw: "good", task: Task{TaskRequest: api.TaskRequest{Task: "status", Region: "eu-west-1"}}, wantCode: apperr.PolicyDenied, wantSteps: all[:3], wantVerified: true},
		{name: "past maxCount", raw: "good", task: Task{TaskRequest: api.TaskRequest{Task: "launch", Count: new(3)}}, wantCode: apperr.PolicyDenied, wantSteps: all[:3], wantVerified: true},
		{name: "busy", raw: "good", task: Task{TaskRequest: api.TaskRequest{Task: "status"}}, reserve: apperr.New(apperr.RateLimited, "busy"), wantCode: apperr.RateLimited, wantSteps: all[:4], wantVerified: true},
		{name: "wrong MFA code", raw: "good", task: Task{TaskRequest: api.TaskRequest{Task: "status", MFACode: "000000"}}, mfaErr: apperr.New(apperr.MFAInvalid, "no"), wantCode: apperr.MFAInvalid, wantSteps: all[:5], wantVerified: true},
		{name: "at maxCount runs", raw: "good", task: Task{TaskRequest: api.TaskRequest{Task: "launch", Count: new(2)}}, wantSteps: all, wantVerified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks := &fakeTokens{pol: testPolicy(), mfaErr: tt.mfaErr}
			p := &Pipeline{Tokens: toks, Spot: &fakeSpot{}}
			var steps []string
			held := false
			src := Source{
				Name: "test",
				Verify: func(context.Context, capability.Token, Request) (Proof, error) {
					steps = append(steps, "Verify")
					return Proof{}, tt.verifyErr
				},
				Decode: func([]byte, Proof) (Task, error) {
					steps = append(steps, "Decode")
					return tt.task, tt.task.Validate()
				},
				Reserve: func() (func(), error) {
					steps = append(steps, "Reserve")
					if tt.reserve != nil {
						return nil, tt.reserve
					}
					held = true
					return func() { held = false }, nil
				},
			}
			g, res, err := p.Run(context.Background(), Request{Token: tt.raw, BodyErr: tt.bodyErr}, src)
			if got := apperr.Code(err); got != tt.wantCode {
				t.Fatalf("Run = %v (%q); want %q", err, got, tt.wantCode)
			}
			// The fakes count their own calls; interleave them in guard order.
			var reached []string
			for _, s := range all {
				if slices.Contains(steps, s) || toks.count(s) > 0 {
					reached = append(reached, s)
				}
			}
			if !slices.Equal(reached, tt.wantSteps) {
				t.Errorf("steps reached = %v; want %v", reached, tt.wantSteps)
			}
			if g.Verified != tt.wantVerified {
				t.Errorf("Verified = %v; want %v", g.Verified, tt.wantVerified)
			}
			if held != (tt.wantCode == "") || (g.Release != nil) != held {
				t.Errorf("slot held %v, Release set %v; want held only by a task that passed", held, g.Release != nil)
			}
			if tt.wantCode == "" && res == (Result{}) {
				t.Error("a task that passed the guard returned no result")
			}
		})
	}
}

// A launch's ClientToken comes from the first of: the provider's delivery
// id, the Idempotency-Key header, the body's idempotencyKey, the body
// signature's nonce, else the body itself within the dedupe window. Only
// the last warns, since only it can merge two launches a caller meant apart.
func TestLaunchIdempotencyKey(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"task":"launch"}`)
	pol := testPolicy()
	window := pol.Dedupe()
	sum := sha256.Sum256(body)
	bodyKey := "body:" + hex.EncodeToString(sum[:]) + ":" + window.String() + ":" + strconv.FormatInt(at.UnixNano()/int64(window), 10)
	tests := map[string]struct {
		proof       Proof
		header      string
		taskKey     string
		wantKey     string
		wantWarning bool
	}{
		"delivery first":           {proof: Proof{Delivery: "SM01", Nonce: "n1"}, header: "h", taskKey: "k", wantKey: "test:SM01"},
		"header before body key":   {proof: Proof{Nonce: "n1"}, header: "h", taskKey: "k", wantKey: "key:h"},
		"body key before nonce":    {proof: Proof{Nonce: "n1"}, taskKey: "k", wantKey: "key:k"},
		"signature nonce":          {proof: Proof{Nonce: "n1"}, wantKey: "sig:n1"},
		"the body, in its window":  {wantKey: bodyKey, wantWarning: true},
		"a key of 255 characters":  {taskKey: strings.Repeat("k", 255), wantKey: "key:" + strings.Repeat("k", 255)},
		"a header of any key form": {header: "{deploy 42}", wantKey: "key:{deploy 42}"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			sp := &fakeSpot{}
			p := &Pipeline{Tokens: &fakeTokens{pol: testPolicy()}, Spot: sp, Now: func() time.Time { return at }}
			tk := Task{TaskRequest: api.TaskRequest{Task: "launch", IdempotencyKey: tt.taskKey}}
			_, res, err := p.Run(context.Background(), Request{Token: "good", Body: body, IdempotencyKey: tt.header}, decoded(tk, tt.proof))
			if err != nil || res.Launch == nil || len(res.Launch.Instances) != 1 {
				t.Fatalf("Run = %+v, %v; want one instance", res, err)
			}
			specs := sp.specs()
			if len(specs) != 1 {
				t.Fatalf("%d launches; want 1", len(specs))
			}
			if want := spot.ClientToken("tok-1", tt.wantKey); specs[0].ClientToken != want {
				t.Fatalf("ClientToken %s; want %s (key %q)", specs[0].ClientToken, want, tt.wantKey)
			}
			warned := slices.ContainsFunc(res.Launch.Warnings, func(w string) bool { return strings.Contains(w, "no Idempotency-Key given") })
			if warned != tt.wantWarning {
				t.Errorf("warnings %q; want the no-key warning: %v", res.Launch.Warnings, tt.wantWarning)
			}
		})
	}
}

// With the dedupe window off, a keyless launch is always a new one.
func TestLaunchWithoutDedupeWindow(t *testing.T) {
	pol := testPolicy()
	pol.DedupeWindow = new(policy.Duration(0))
	sp := &fakeSpot{}
	p := &Pipeline{Tokens: &fakeTokens{pol: pol}, Spot: sp}
	for range 2 {
		if _, _, err := p.Run(context.Background(), Request{Token: "good", Body: []byte(`{}`)}, decoded(Task{TaskRequest: api.TaskRequest{Task: "launch"}}, Proof{})); err != nil {
			t.Fatal(err)
		}
	}
	if specs := sp.specs(); len(specs) != 2 || specs[0].ClientToken == specs[1].ClientToken {
		t.Fatalf("two keyless launches with no window share ClientToken %v; want two", specs)
	}
}
