package spot

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// clock is the shared settable test clock.
type clock = testclock.Clock

// env is a spot Client talking to an awssim over real HTTP, with a count
// of the actions awssim received.
type env struct {
	sim    *awssim.Sim
	srv    *httptest.Server
	client *Client
	clock  *clock
	creds  aws.CredentialsProvider

	mu    sync.Mutex
	calls map[string]int
	last  map[string]url.Values // the last request of each action
}

const region = "us-east-1"

// mustEnv starts awssim on 127.0.0.1 and a Client pointed at it. The
// credentials are awssim's documentation example pair: nothing here can
// reach real AWS.
func mustEnv(tb testing.TB) *env {
	tb.Helper()
	ck := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	e := &env{clock: ck, calls: map[string]int{}, last: map[string]url.Values{}}
	e.sim = awssim.New(awssim.Options{Seed: 7, Now: ck.Now})
	e.srv = httptest.NewServer(http.HandlerFunc(e.count))
	tb.Cleanup(e.srv.Close)
	c, err := New(Config{
		EC2Endpoint:     e.srv.URL,
		STSEndpoint:     e.srv.URL,
		PricingEndpoint: e.srv.URL, // awssim answers the Price List API too
		DefaultRegion:   region,
		HTTPClient:      e.srv.Client(),
		Now:             ck.Now,
		MaxBackoff:      time.Millisecond,
		PollInterval:    5 * time.Millisecond,
		WaitTimeout:     2 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.client = c
	e.creds = Static(Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey})
	return e
}

// count records the Action of each Query request, then serves it.
func (e *env) count(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if q, err := url.ParseQuery(string(body)); err == nil {
			e.mu.Lock()
			e.calls[q.Get("Action")]++
			e.last[q.Get("Action")] = q
			e.mu.Unlock()
		}
	}
	e.sim.ServeHTTP(w, r)
}

func (e *env) lastCall(action string) url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[action]
}

func (e *env) callCount(action string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[action]
}

// simRegion returns awssim's state of the test region.
func (e *env) simRegion() awssim.RegionState {
	for _, r := range e.sim.State().Regions {
		if r.Name == region {
			return r
		}
	}
	panic("awssim has no " + region)
}

// simInstances returns awssim's instances in the test region.
func (e *env) simInstances() []awssim.InstanceState { return e.simRegion().Instances }

func (e *env) liveSimInstances() []awssim.InstanceState {
	var out []awssim.InstanceState
	for _, in := range e.simInstances() {
		if isLive(in.State) {
			out = append(out, in)
		}
	}
	return out
}

// spec is a valid launch of count instances for token tok with key key.
func (e *env) spec(tok, key string, count int) LaunchSpec {
	return LaunchSpec{
		Launch: api.Launch{
			Region:        region,
			InstanceTypes: []string{"m5.large", "c5.large"},
			Count:         count,
			AMI:           "ami-0abcdef1234567890",
			TTL:           time.Hour,
			Tags:          map[string]string{"team": "ci"},
		},
		Credentials: e.creds,
		TokenID:     tok,
		RequestID:   "req-" + key,
		ClientToken: ClientToken(tok, key),
	}
}

func (e *env) mustLaunch(tb testing.TB, s LaunchSpec) LaunchResult {
	tb.Helper()
	res, err := e.client.Launch(context.Background(), s)
	if err != nil {
		tb.Fatalf("Launch(%s) = %v", s.ClientToken, err)
	}
	return res
}

// resetCalls forgets the calls made so far, so a check counts the launch's
// alone.
func (e *env) resetCalls() {
	e.mu.Lock()
	clear(e.calls)
	e.mu.Unlock()
}

// admitted is s as a handler sends it: Launch lists the token's instances
// and admit decides on them (nil admits all).
func (e *env) admitted(s LaunchSpec, admit func(others []Instance) (float64, error)) LaunchSpec {
	if admit == nil {
		admit = func([]Instance) (float64, error) { return 0, nil }
	}
	s.Admit = admit
	return s
}

func (e *env) terminate(tb testing.TB, tok string, ids ...string) {
	tb.Helper()
	if _, err := e.client.Terminate(context.Background(), e.creds, region, tok, ids, false); err != nil {
		tb.Fatalf("Terminate(%v) = %v", ids, err)
	}
}

func ids(ins []Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := apperr.Code(err); got != code {
		tb.Fatalf("error = %v (code %q); want code %q", err, got, code)
	}
}
