package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/spot"
)

// failoverReply is one answer the load saw around the Vault leader's death.
type failoverReply struct {
	at         time.Time
	code       int // 0: the connection failed
	err        string
	retryAfter string
}

// TestChaosVaultLeaderKilledUnderLoad: launches keep arriving on three
// replicas while the Vault leader is SIGKILLed. Launches that cannot reach
// the store are refused 503 unavailable with Retry-After (never another
// error), launches succeed again within 10 s of the new leader, and a
// client that sends each key again until it succeeds ends with exactly one
// instance per key: nothing lost, nothing started twice.
func TestChaosVaultLeaderKilledUnderLoad(t *testing.T) {
	c := vaulttest.ClusterToBreak(t)
	s := startReplicasOn(t, c, 3, nil)
	tok, tokID := s.tokenWithID(t, `{`+replicaPolicy+`,"maxCount":1,"maxRunning":1000}`)
	// The subject is the store's failover, not EC2's capacity: launches
	// are fast enough now to use up a seeded zone's spot capacity within
	// the run, and a capacity_unavailable would read as a failover error.
	for _, onDemand := range []bool{false, true} {
		if err := s.sim.SetCapacity("us-east-1", "", "", onDemand, 1<<20); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu      sync.Mutex
		replies []failoverReply
		ids     = map[string][]string{}
		keys    atomic.Int64
		stop    atomic.Bool
	)
	// until sends key to the replicas in turn until it is answered 200.
	until := func(n int64) {
		key := fmt.Sprintf("failover-%d", n)
		body := []byte(`{"task":"launch","idempotencyKey":"` + key + `"}`)
		for try := int64(0); try < 300; try++ {
			r := s.rs[(n+try)%3]
			req, _ := http.NewRequest("POST", r.URL+"/v1/tasks", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			got := failoverReply{}
			resp, err := r.Client.Do(req)
			var v map[string]any
			if err == nil {
				json.NewDecoder(resp.Body).Decode(&v)
				resp.Body.Close()
				got.code, got.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
				got.err, _ = v["error"].(string)
			}
			got.at = time.Now()
			mu.Lock()
			replies = append(replies, got)
			if got.code == 200 {
				ids[key] = replyInstanceIDs(v)
			}
			mu.Unlock()
			if got.code == 200 {
				return
			}
			if got.code != 0 && got.code != 503 {
				t.Errorf("launch %s = %d %v; want 200, or 503 while the store fails over", key, got.code, v)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("launch %s not answered 200 in 300 tries", key)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for !stop.Load() {
				until(keys.Add(1))
			}
		})
	}
	time.Sleep(2 * time.Second)
	leader := c.Leader(t, 10*time.Second)
	killed := time.Now()
	c.Kill(t, leader)
	next := c.Leader(t, 30*time.Second)
	elected := time.Now()
	time.Sleep(8 * time.Second)
	stop.Store(true)
	wg.Wait()
	c.Restart(t, leader)

	slices.SortFunc(replies, func(a, b failoverReply) int { return a.at.Compare(b.at) })
	var unavailable int
	var last503 time.Time
	for _, r := range replies {
		if r.code != 503 {
			continue
		}
		unavailable++
		last503 = r.at
		if r.err != "unavailable" || r.retryAfter == "" {
			t.Errorf("a launch during the failover = 503 %q (Retry-After %q); want unavailable with Retry-After", r.err, r.retryAfter)
		}
	}
	var resumed time.Time
	for _, r := range replies {
		if r.code == 200 && r.at.After(killed) && r.at.After(last503) {
			resumed = r.at
			break
		}
	}
	if resumed.IsZero() {
		t.Fatalf("no launch succeeded after the failover (%d replies, last 503 %v after the kill)", len(replies), last503.Sub(killed))
	}
	if wait := resumed.Sub(elected); wait > 10*time.Second {
		t.Errorf("launches resumed %v after the new leader; want within 10 s", wait)
	}
	t.Logf("Vault node %d killed, node %d leads %v later; %d × 503 unavailable; launches resumed %v after the kill",
		leader+1, next+1, elected.Sub(killed).Round(time.Millisecond), unavailable, resumed.Sub(killed).Round(time.Millisecond))

	sent := int(keys.Load())
	if len(ids) != sent {
		t.Errorf("%d of %d keys launched; want every one (none lost)", len(ids), sent)
	}
	seen := map[string]bool{}
	for key, got := range ids {
		if len(got) != 1 || seen[got[0]] {
			t.Errorf("launch %s named %v; want one instance of its own", key, got)
		}
		for _, id := range got {
			seen[id] = true
		}
	}
	n := 0
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			n++
			tagged := false
			for _, tg := range in.Tags {
				tagged = tagged || tg.Key == spot.TagToken && tg.Value == tokID
			}
			if !tagged {
				t.Errorf("instance %s is not tagged %s=%s", in.InstanceID, spot.TagToken, tokID)
			}
		}
	}
	if n != len(ids) {
		t.Errorf("awssim holds %d instances for %d launched keys; want exactly one each (none duplicated)", n, len(ids))
	}
}
