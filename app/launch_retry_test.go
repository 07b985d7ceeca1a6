package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// retryAtTheCap is the double-tapped button at the cap: the token runs one
// instance under maxRunning 2, so launch k1 takes the last place. Its
// retry (same key) arrives while the first try waits on CreateFleet and
// must be answered with the first try's instance, not refused; a launch
// with another key, one past the cap, is refused while they are in flight
// and after. send posts a launch with an idempotency key to a replica.
func retryAtTheCap(t *testing.T, sim *awssim.Sim, send func(replica int, key string) (string, []string)) {
	t.Helper()
	if code, ids := send(0, "k0"); code != "200" || len(ids) != 1 {
		t.Fatalf("the first launch = %s %v; want 200 with one instance", code, ids)
	}
	if err := sim.SetLatency("CreateFleet", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sim.SetLatency("CreateFleet", 0) }()
	calls := sim.Calls("CreateFleet")
	type reply struct {
		code string
		ids  []string
	}
	var first, retry reply
	// waitFleet waits until n more CreateFleet calls reached EC2 (a launch
	// that got there was admitted and holds its reservation), or the
	// launch sent last answered without getting there.
	waitFleet := func(n int, answered <-chan struct{}, r *reply) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); sim.Calls("CreateFleet") < calls+n; {
			select {
			case <-answered:
				t.Fatalf("a launch answered %s %v without reaching CreateFleet; want it admitted", r.code, r.ids)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d CreateFleet calls; want %d", sim.Calls("CreateFleet")-calls, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	firstDone, retryDone := make(chan struct{}), make(chan struct{})
	wg.Go(func() { defer close(firstDone); first.code, first.ids = send(0, "k1") })
	waitFleet(1, firstDone, &first)
	wg.Go(func() { defer close(retryDone); retry.code, retry.ids = send(1, "k1") })
	waitFleet(2, retryDone, &retry)
	if code, _ := send(2, "k2"); code != "403 policy_denied" {
		t.Errorf("another key while the launch at the cap is in flight = %s; want 403 policy_denied (one past maxRunning)", code)
	}
	wg.Wait()
	if first.code != "200" || len(first.ids) != 1 {
		t.Fatalf("launch k1 = %s %v; want 200 with one instance", first.code, first.ids)
	}
	if retry.code != "200" || !slices.Equal(retry.ids, first.ids) {
		t.Errorf("its retry racing it = %s %v; want 200 with the first try's %v", retry.code, retry.ids, first.ids)
	}
	_ = sim.SetLatency("CreateFleet", 0)
	if code, ids := send(1, "k1"); code != "200" || !slices.Equal(ids, first.ids) {
		t.Errorf("a retry after it answered = %s %v; want 200 with %v", code, ids, first.ids)
	}
	if code, _ := send(0, "k3"); code != "403 policy_denied" {
		t.Errorf("another key at the cap = %s; want 403 policy_denied", code)
	}
	n := 0
	for _, r := range sim.State().Regions {
		for _, in := range r.Instances {
			if in.State == "pending" || in.State == "running" {
				n++
			}
		}
	}
	if n != 2 {
		t.Errorf("awssim runs %d instances; want exactly maxRunning, 2", n)
	}
}

const retryPolicy = `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":1,"maxRunning":2,"tasks":["launch","status"]}`

// TestRetryAtTheCapIsAReplay through one `spotter serve` process: the
// memory ledger (embedded store) and the shared one (Vault).
func TestRetryAtTheCapIsAReplay(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startStack(t, backend)
			url := s.createToken(t, `{"name":"double-tap","credentials":`+keysJSON()+`,"policy":`+retryPolicy+`}`)["url"].(string)
			retryAtTheCap(t, s.sim, func(_ int, key string) (string, []string) {
				return postLaunchKey(s.client, url, key)
			})
		})
	}
}

// TestRetryAtTheCapAcrossReplicas: the same with the first try, its retry
// and the other launch each on another `spotter serve` process.
func TestRetryAtTheCapAcrossReplicas(t *testing.T) {
	s := startReplicas(t, 3, nil)
	tok := s.token(t, retryPolicy)
	retryAtTheCap(t, s.sim, func(replica int, key string) (string, []string) {
		code, v := s.launch(replica, tok, fmt.Sprintf(`{"task":"launch","idempotencyKey":%q}`, key))
		return code, replyInstanceIDs(v)
	})
}

// postLaunchKey posts a launch with an Idempotency-Key header and answers
// "<status>" or "<status> <error>" with the instance ids; safe in a
// goroutine (it reports a failure in the status, not through t).
func postLaunchKey(c *http.Client, url, key string) (string, []string) {
	req, err := http.NewRequest("POST", url, strings.NewReader(`{"task":"launch"}`))
	if err != nil {
		return err.Error(), nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return err.Error(), nil
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fmt.Sprintf("%d (not JSON: %v)", resp.StatusCode, err), nil
	}
	code, _ := v["error"].(string)
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, code)), replyInstanceIDs(v)
}
