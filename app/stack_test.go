package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
)

// stack is spotter as an operator runs it: `spotter serve` over HTTPS with
// its self-signed certificate, a store (embedded or a real Vault), and AWS
// reached through the real SDK at an emulator named by AWS_ENDPOINT_URL_*.
type stack struct {
	base   string
	client *http.Client
	sim    *awssim.Sim
	simURL string
	logs   *syncBuffer
	stop   func() error
}

func startStack(t *testing.T, backend string) *stack {
	t.Helper()
	return startStackEnv(t, backend, nil)
}

// startStackEnv is startStack with extra serve environment.
func startStackEnv(t *testing.T, backend string, extra map[string]string) *stack {
	t.Helper()
	sim := awssim.New(awssim.Options{Seed: 7, InterruptionNotice: 50 * time.Millisecond})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	env := map[string]string{
		"SPOTTER_ADMIN_TOKEN":  testAdminToken,
		"AWS_ENDPOINT_URL_EC2": simSrv.URL,
		"AWS_ENDPOINT_URL_STS": simSrv.URL,
		// On-demand prices: awssim answers the Price List API too.
		"AWS_ENDPOINT_URL_PRICING": simSrv.URL,
	}
	for k, v := range extra {
		env[k] = v
	}
	if backend == "vault" {
		srv := vaulttest.Shared(t)
		// spotter runs with the least-privilege policy an operator deploys.
		names := deploy.DefaultVaultNames()
		names.KVMount = vaulttest.Unique("e2e-kv")
		env["VAULT_ADDR"], env["VAULT_TOKEN"] = srv.Addr, srv.SpotterToken(t, names)
		env["SPOTTER_VAULT_MOUNT"] = names.KVMount
	}
	dir := dataDir(t)
	base, logs, stop := startServe(t, env, "--addr", "127.0.0.1:0", "--data-dir", dir)
	return &stack{base: base, client: clientFor(t, base, dir), sim: sim, simURL: simSrv.URL, logs: logs, stop: stop}
}

// backendsUnderTest is the embedded store always, and Vault when one is
// available (scripts/test.sh always provides it).
func backendsUnderTest() []string {
	return []string{"embedded", "vault"}
}

func (s *stack) createToken(t *testing.T, body string) map[string]any {
	t.Helper()
	code, v, raw := call(t, s.client, "POST", s.base+"/v1/tokens", testAdminToken, "application/json", []byte(body))
	if code != 201 {
		t.Fatalf("create token = %d %s", code, raw)
	}
	return v
}

// task POSTs body to the capability URL with extra headers.
func (s *stack) task(t *testing.T, url, body string, hdr map[string]string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw strings.Builder
	var v map[string]any
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("POST task: reply is not JSON: %v", err)
	}
	b, _ := json.Marshal(v)
	raw.Write(b)
	return resp.StatusCode, v, raw.String()
}

// liveInstances counts the emulator's pending or running instances.
func (s *stack) liveInstances() int {
	n := 0
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.State == "pending" || in.State == "running" {
				n++
			}
		}
	}
	return n
}
