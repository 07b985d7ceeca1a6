package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/vaulttest"
)

// spotterBinary builds the binary the replica tests run, once per test run
// (TestMain removes it).
var spotterBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "spotter-e2e-")
	if err != nil {
		return "", err
	}
	return e2e.Build(dir)
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := spotterBinary(); err == nil && strings.Contains(bin, "spotter-e2e-") {
		os.RemoveAll(strings.TrimSuffix(bin, "/spotter"))
	}
	os.Exit(code)
}

// replicas is three `spotter serve` processes on the Vault Raft cluster,
// each through its own node, and one awssim they all call.
type replicas struct {
	rs  []*e2e.Replica
	sim *awssim.Sim
	// mount is the KV mount the replicas share, for a test that reads
	// what they stored.
	mount string
	// busy counts the 503s launch sent again (capacity raced for, or the
	// store between leaders).
	busy atomic.Int32
}

func startReplicas(t *testing.T, n int, extra map[string]string) *replicas {
	t.Helper()
	return startReplicasOn(t, vaulttest.SharedCluster(t), n, extra)
}

// startReplicasOn is startReplicas on a cluster the test already holds
// (ClusterToBreak, for a test that kills Vault nodes).
func startReplicasOn(t *testing.T, c *vaulttest.Cluster, n int, extra map[string]string) *replicas {
	t.Helper()
	return startReplicasFront(t, c, n, extra, nil)
}

// startReplicasFront is startReplicasOn with front, when not nil, wrapping
// awssim's handler (to hold or lose a reply on its way back).
func startReplicasFront(t *testing.T, c *vaulttest.Cluster, n int, extra map[string]string, front func(http.Handler) http.Handler) *replicas {
	t.Helper()
	bin, err := spotterBinary()
	if err != nil {
		t.Fatal(err)
	}
	mount := vaulttest.Unique("replicas")
	t.Cleanup(func() {
		// Through the leader: a test that killed a node may have just
		// restarted it, and a fresh standby cannot forward yet.
		if err := c.Client(t, c.Leader(t, 30*time.Second)).Sys().Unmount(mount); err != nil {
			t.Logf("cleanup: unmount %s: %v", mount, err)
		}
	})
	// The replicas run with the least-privilege policy an operator deploys.
	names := deploy.DefaultVaultNames()
	names.KVMount = mount
	token := c.Server(0).SpotterToken(t, names)
	sim := awssim.New(awssim.Options{Seed: 7})
	var h http.Handler = sim
	if front != nil {
		h = front(sim)
	}
	simSrv := httptest.NewServer(h)
	t.Cleanup(simSrv.Close)
	s := &replicas{sim: sim, mount: mount}
	for i := range n {
		env := map[string]string{
			"SPOTTER_ADMIN_TOKEN": testAdminToken, "AWS_ENDPOINT_URL_EC2": simSrv.URL, "AWS_ENDPOINT_URL_STS": simSrv.URL,
			"VAULT_ADDR": c.Nodes[i%len(c.Nodes)], "SPOTTER_VAULT_ADDRS": strings.Join(c.Nodes, ","),
			"VAULT_CACERT": c.CACert, "VAULT_TOKEN": token, "SPOTTER_VAULT_MOUNT": mount,
			"SPOTTER_REAPER_INTERVAL": "0",
		}
		for k, v := range extra {
			env[k] = v
		}
		s.rs = append(s.rs, e2e.Start(t, bin, fmt.Sprintf("replica-%d", i), env))
	}
	t.Cleanup(func() {
		for _, tok := range []string{c.Token, token} {
			if who := e2e.Mentions(s.rs, tok); len(who) > 0 {
				t.Errorf("a Vault token is in the log of %v", who)
			}
		}
	})
	return s
}

// token creates a capability token on replica 0 and returns it (the JWT).
func (s *replicas) token(t *testing.T, policy string) string {
	t.Helper()
	r := s.rs[0]
	code, v, raw := call(t, r.Client, "POST", r.URL+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"replicas","credentials":`+keysJSON()+`,"policy":`+policy+`}`))
	if code != 201 {
		t.Fatalf("create token = %d %s", code, raw)
	}
	return v["token"].(string)
}

// launch POSTs a task to replica i and answers "<status>" or "<status>
// <error>"; a 503 is sent again (same body, so the same launch) until it
// is answered otherwise, as a client that honours Retry-After does.
func (s *replicas) launch(i int, tok, body string) (string, map[string]any) {
	r := s.rs[i%len(s.rs)]
	for try := 0; ; try++ {
		req, _ := http.NewRequest("POST", r.URL+"/v1/tasks", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.Client.Do(req)
		if err != nil {
			return err.Error(), nil
		}
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode == 503 && try < 20 && resp.Header.Get("Retry-After") != "" {
			s.busy.Add(1)
			time.Sleep(time.Duration(50+try*50) * time.Millisecond)
			continue
		}
		code, _ := v["error"].(string)
		return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, code)), v
	}
}

func (s *replicas) live() (n int, spend float64) {
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.State == "pending" || in.State == "running" {
				n++
				spend += in.SpotPrice
			}
		}
	}
	return n, spend
}

// fanOut sends n launches at once, launch i to replica i mod 3 with its own
// idempotency key, and counts the replies.
func (s *replicas) fanOut(tok string, n int, body func(i int) string) map[string]int {
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], _ = s.launch(i, tok, body(i)) })
	}
	wg.Wait()
	got := map[string]int{}
	for _, c := range codes {
		got[c]++
	}
	return got
}

const replicaPolicy = `"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"tasks":["launch","status"]`

// TestReplicasKeepMaxRunning: 60 launches of one token at once over three
// replicas under maxRunning 5 start exactly 5 instances.
func TestReplicasKeepMaxRunning(t *testing.T) {
	s := startReplicas(t, 3, nil)
	tok := s.token(t, `{`+replicaPolicy+`,"maxCount":1,"maxRunning":5}`)
	got := s.fanOut(tok, 60, func(i int) string { return fmt.Sprintf(`{"task":"launch","idempotencyKey":"job-%d"}`, i) })
	if got["200"] != 5 || got["403 policy_denied"] != 55 {
		t.Errorf("replies %v; want 5 launched and 55 refused by maxRunning", got)
	}
	if n, _ := s.live(); n != 5 {
		t.Errorf("awssim runs %d instances; want exactly maxRunning, 5", n)
	}
	t.Logf("%d replies of 503 (Retry-After) sent again", s.busy.Load())
}

// TestReplicasKeepMaxCount: launches of 2 (maxCount) and of 3 (one past
// it) at once over three replicas under maxRunning 5: every 3 is refused
// by maxCount, and two launches of 2 fit, not a third.
func TestReplicasKeepMaxCount(t *testing.T) {
	s := startReplicas(t, 3, nil)
	tok := s.token(t, `{`+replicaPolicy+`,"maxCount":2,"maxRunning":5}`)
	got := s.fanOut(tok, 30, func(i int) string {
		return fmt.Sprintf(`{"task":"launch","count":%d,"idempotencyKey":"job-%d"}`, 2+i%3/2, i)
	})
	if got["200"] != 2 || got["403 policy_denied"] != 28 {
		t.Errorf("replies %v; want 2 launches of 2, the rest refused (maxCount or maxRunning)", got)
	}
	if n, _ := s.live(); n != 4 {
		t.Errorf("awssim runs %d instances; want 4", n)
	}
}

// TestReplicasKeepMaxHourlySpend: with maxPrice p per instance and a
// budget of 3.5 p, 60 launches at once over three replicas start exactly
// 3 instances, and what they cost stays within the budget.
func TestReplicasKeepMaxHourlySpend(t *testing.T) {
	s := startReplicas(t, 3, nil)
	probe := s.token(t, `{`+replicaPolicy+`}`)
	// A dry run on each replica warms its caches (types, AMI, template),
	// so the 60 launches below reach their checks together.
	var v map[string]any
	for i := range s.rs {
		_, v = s.launch(i, probe, `{"task":"launch","dryRun":true}`)
	}
	pools, _ := v["pools"].([]any)
	if len(pools) == 0 {
		t.Fatalf("dry run = %v; want the pools with prices", v)
	}
	p := pools[0].(map[string]any)["price"].(float64)
	budget := 3.5 * p
	tok := s.token(t, fmt.Sprintf(`{`+replicaPolicy+`,"maxCount":1,"maxRunning":50,"maxHourlySpend":%g}`, budget))
	got := s.fanOut(tok, 60, func(i int) string {
		return fmt.Sprintf(`{"task":"launch","maxPrice":%g,"idempotencyKey":"job-%d"}`, p, i)
	})
	if got["200"] != 3 || got["403 policy_denied"] != 57 {
		t.Errorf("replies %v; want 3 launched and 57 refused by maxHourlySpend", got)
	}
	n, spend := s.live()
	if n != 3 || spend > budget+1e-9 {
		t.Errorf("awssim runs %d instances at $%g/h; want 3 within the budget $%g/h", n, spend, budget)
	}
	t.Logf("spot price $%g/h, budget $%g/h, running $%g/h", p, budget, spend)
}

// TestReplicaKilledHoldingAReservation: a replica killed (-9) between its
// reservation and CreateFleet leaves a claim no one will settle; it holds
// until its lease ends, then the capacity is usable again.
func TestReplicaKilledHoldingAReservation(t *testing.T) {
	const lease = 4 * time.Second
	s := startReplicas(t, 2, map[string]string{"SPOTTER_LAUNCH_LEASE": lease.String()})
	tok := s.token(t, `{`+replicaPolicy+`,"maxCount":3,"maxRunning":5}`)
	if err := s.sim.SetLatency("CreateFleet", time.Minute); err != nil {
		t.Fatal(err)
	}
	go s.launch(0, tok, `{"task":"launch","count":3,"idempotencyKey":"doomed"}`)

	// Replica 0 claims before it calls CreateFleet, which awssim holds: once
	// that call has arrived the claim is in the store. Asking earlier, on a
	// loaded machine, replica 1's own launch could claim first.
	for deadline := time.Now().Add(10 * time.Second); s.sim.Calls("CreateFleet") == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("replica 0's launch never reached CreateFleet")
		}
	}
	// Replica 1 sees replica 0's claim: 3 of 5 are held.
	held := time.Now()
	for {
		code, v := s.launch(1, tok, `{"task":"launch","count":3,"idempotencyKey":"after"}`)
		if code == "403 policy_denied" && strings.Contains(fmt.Sprint(v["details"]), "in flight") {
			break
		}
		if code != "200" && time.Since(held) < 10*time.Second {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t.Fatalf("launch beside a held reservation = %s %v; want 403 naming the launch in flight", code, v)
	}
	s.rs[0].Kill9(t)
	killed := time.Now()
	t.Logf("replica 0 killed %v after its claim was first seen", killed.Sub(held).Round(time.Millisecond))
	if err := s.sim.SetLatency("CreateFleet", 0); err != nil {
		t.Fatal(err)
	}
	var refused int
	for {
		code, v := s.launch(1, tok, `{"task":"launch","count":3,"idempotencyKey":"after"}`)
		if code == "200" {
			break
		}
		if code != "403 policy_denied" || time.Since(killed) > lease+3*time.Second {
			t.Fatalf("launch %v after the kill = %s %v; want 200 once the %v lease has lapsed", time.Since(killed), code, v, lease)
		}
		refused++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("capacity usable again %v after the kill (%d refusals meanwhile)", time.Since(killed).Round(time.Millisecond), refused)
	if refused == 0 {
		t.Errorf("no launch was refused after the kill: the dead replica's claim did not hold until its lease ended")
	}
	if n, _ := s.live(); n != 3 {
		t.Errorf("awssim runs %d instances; want 3 (the killed replica's launch never reached CreateFleet's effect)", n)
	}
}

// TestLaunchGivesUpAtItsLease: a launch whose CreateFleet has not answered
// shortly before its claim's lease ends stops waiting (past the lease,
// other replicas no longer count the claim) and says to send it again;
// nothing was started, and the retry launches.
func TestLaunchGivesUpAtItsLease(t *testing.T) {
	const lease = 2 * time.Second
	s := startReplicas(t, 1, map[string]string{"SPOTTER_LAUNCH_LEASE": lease.String()})
	tok := s.token(t, `{`+replicaPolicy+`,"maxCount":1,"maxRunning":1}`)
	if err := s.sim.SetLatency("CreateFleet", time.Minute); err != nil {
		t.Fatal(err)
	}
	r := s.rs[0]
	body := `{"task":"launch","idempotencyKey":"slow"}`
	start := time.Now()
	code, v, raw, hdr := callHeader(t, r.Client, "POST", r.URL+"/v1/tasks", tok, "application/json", []byte(body))
	took := time.Since(start)
	if code != 503 || v["error"] != "unavailable" || hdr.Get("Retry-After") == "" || !strings.Contains(raw, "lapsed") {
		t.Fatalf("launch with CreateFleet stuck = %d %s (Retry-After %q); want 503 unavailable naming the lapsed reservation", code, raw, hdr.Get("Retry-After"))
	}
	// It gives up a tenth of the lease before the claim lapses, measured
	// from the claim; the client's clock also counts the request's own
	// handling, so allow a second for that on a busy machine. A launch
	// that did not give up would answer after CreateFleet's minute.
	if took > lease+time.Second {
		t.Errorf("the stuck launch answered after %v; want it to give up at its %v lease", took, lease)
	}
	if n, _ := s.live(); n != 0 {
		t.Fatalf("awssim runs %d instances after the abandoned CreateFleet; want 0", n)
	}
	if err := s.sim.SetLatency("CreateFleet", 0); err != nil {
		t.Fatal(err)
	}
	if got, v := s.launch(0, tok, body); got != "200" {
		t.Fatalf("the retry = %s %v; want 200", got, v)
	}
	if n, _ := s.live(); n != 1 {
		t.Errorf("awssim runs %d instances; want the retry's 1", n)
	}
}
