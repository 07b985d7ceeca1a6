package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/app"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/spot"
)

// poolPolicy backs the pools below: launch and terminate, two c5 sizes,
// no MFA (a pool has no person to type a code).
const poolPolicy = `{"regions":["us-east-1"],"instanceTypes":["c5.large","c5.2xlarge"],"amis":["ami-0123456789abcdef0"],"maxCount":20,"maxRunning":20,"maxTTL":"4h","tasks":["launch","terminate","status"]}`

// poolStack is serve (one or more replicas on one store, app.New as
// `spotter serve` builds it) over an awssim whose CreateFleet requests the
// test sees and may hold. Serve and awssim read one clock that the test
// moves forward, so instances age (past EC2's minimum charge, say)
// without the test waiting.
type poolStack struct {
	sim    *awssim.Sim
	simURL string
	clock  *simClock
	cfg    app.Config

	mu     sync.Mutex
	fleets []url.Values  // every CreateFleet request awssim got
	hold   chan struct{} // when set, the first CreateFleet's reply waits on it
	held   chan struct{} // closed once that CreateFleet was carried out
	once   sync.Once
}

func newPoolStack(t *testing.T, backend string) *poolStack {
	t.Helper()
	ps := &poolStack{clock: &simClock{}}
	ps.sim = awssim.New(awssim.Options{Seed: 7, Now: ps.clock.Now})
	srv := httptest.NewServer(http.HandlerFunc(ps.serveSim))
	t.Cleanup(func() {
		if ps.hold != nil {
			ps.release()
		}
		srv.Close()
	})
	ps.simURL = srv.URL
	timeouts := app.DefaultTimeouts()
	timeouts.PoolInterval, timeouts.ReaperInterval = 200*time.Millisecond, 0
	ps.cfg = app.Config{
		Addr: "127.0.0.1:0", AdminToken: testAdminToken, LogFormat: "json", LogLevel: "info", BodyLimit: "64K",
		Region: "us-east-1", VaultMount: "spotter", Timeouts: timeouts, Now: ps.clock.Now, Version: "test",
		EC2Endpoint: srv.URL, STSEndpoint: srv.URL, PricingEndpoint: srv.URL,
		Identity: app.AWSIdentity{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey, IMDSDisabled: true},
	}
	if backend == "vault" {
		v := vaulttest.Shared(t)
		ps.cfg.VaultAddr, ps.cfg.VaultToken, ps.cfg.VaultMount = v.Addr, v.Token, vaulttest.Unique("e2e-pools")
	}
	return ps
}

func (ps *poolStack) release() { ps.once.Do(func() { close(ps.hold) }) }

func (ps *poolStack) serveSim(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	q, _ := url.ParseQuery(string(body))
	if q.Get("Action") != "CreateFleet" {
		ps.sim.ServeHTTP(w, r)
		return
	}
	ps.mu.Lock()
	ps.fleets = append(ps.fleets, q)
	first := len(ps.fleets) == 1
	ps.mu.Unlock()
	if !first || ps.hold == nil {
		ps.sim.ServeHTTP(w, r)
		return
	}
	// EC2 carries the launch out; its caller never hears so.
	rec := httptest.NewRecorder()
	ps.sim.ServeHTTP(rec, r)
	close(ps.held)
	select {
	case <-ps.hold:
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusServiceUnavailable)
}

func (ps *poolStack) createFleets() []url.Values {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.fleets)
}

// serve starts one replica on the stack's store; its stop ends it as
// SIGTERM would.
func (ps *poolStack) serve(t *testing.T) *stack {
	t.Helper()
	cfg := ps.cfg
	if cfg.DataDir == "" { // a test that reads the store after sets its own
		cfg.DataDir = dataDir(t)
	}
	logs := &syncBuffer{}
	a, err := app.New(t.Context(), cfg, app.NewLogger(logs, "json", cfg.LogLevel), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(addr net.Addr) { ready <- "https://" + addr.String() }) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve ended before it answered: %v", err)
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			stopErr = errors.Join(<-done, a.Close())
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return &stack{base: base, client: clientFor(t, base, cfg.DataDir), sim: ps.sim, simURL: ps.simURL, logs: logs, stop: stop}
}

// createPool makes a token and a pool on it over s's admin API.
func createPool(t *testing.T, s *stack, name, configs string) {
	t.Helper()
	tok := s.createToken(t, `{"name":"pool-token","credentials":`+keysJSON()+`,"policy":`+poolPolicy+`}`)
	body := `{"name":"` + name + `","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":` + configs + `,"minCapacity":0,"maxCapacity":20,"maxLifetime":"2h"}`
	code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body))
	if code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
}

func demand(t *testing.T, s *stack, name, body string) {
	t.Helper()
	code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools/"+name+"/demand", testAdminToken, "application/json", []byte(body))
	if code != http.StatusOK {
		t.Fatalf("demand = %d %s", code, raw)
	}
}

// poolInstances are awssim's live instances tagged with the pool.
func poolInstances(sim *awssim.Sim, name string) []awssim.InstanceState {
	var out []awssim.InstanceState
	for _, r := range sim.State().Regions {
		for _, in := range r.Instances {
			if (in.State == "pending" || in.State == "running") && tagOf(in, spot.TagPool) == name {
				out = append(out, in)
			}
		}
	}
	return out
}

func tagOf(in awssim.InstanceState, key string) string {
	for _, tg := range in.Tags {
		if tg.Key == key {
			return tg.Value
		}
	}
	return ""
}

var weights = map[string]int{"c5.large": 1, "c5.2xlarge": 4}

func units(ins []awssim.InstanceState) int {
	n := 0
	for _, in := range ins {
		n += weights[in.InstanceType]
	}
	return n
}

// eventually polls cond every 50 ms for up to 20 s; on a timeout it
// shows serve's log.
func eventually(t *testing.T, s *stack, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; serve's log:\n%s", what, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
