package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/spot"
)

// TestPoolsAcrossReplicaProcesses is issue 14's pool figure with real
// processes: three `spotter serve` on the Vault Raft cluster reconcile
// 200 pools. Each pool asks for one instance and gets exactly one (two
// replicas deciding one pool in an interval would launch twice); the
// leases spread over all three replicas, none over its share. Then one
// replica is killed with kill -9 (its leases are not given back), every
// pool asks for a second instance, and every pool gets exactly one more:
// the dead replica's pools are taken over by the two left as soon as its
// leases end (three intervals from its last renewal on a quiet machine).
func TestPoolsAcrossReplicaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three serve processes and 200 pools")
	}
	const pools, interval = 200, 3 * time.Second
	c := vaulttest.SharedCluster(t)
	s := startReplicas(t, 3, map[string]string{"SPOTTER_POOL_INTERVAL": interval.String()})
	r0 := s.rs[0]
	// Four tokens of 50 pools: one token's caps are not what is tested.
	var names []string
	for k := range 4 {
		code, v, raw := call(t, r0.Client, "POST", r0.URL+"/v1/tokens", testAdminToken, "application/json",
			[]byte(`{"name":"pools-`+fmt.Sprint(k)+`","credentials":`+keysJSON()+`,"policy":{"regions":["us-east-1"],"instanceTypes":["c5.large"],`+
				`"amis":["ami-0123456789abcdef0"],"maxCount":100,"maxRunning":100,"maxTTL":"4h","tasks":["launch","terminate","status"]}}`))
		if code != http.StatusCreated {
			t.Fatalf("create token = %d %s", code, raw)
		}
		for i := range pools / 4 {
			name := fmt.Sprintf("p%d-%02d", k, i)
			body := `{"name":"` + name + `","tokenId":"` + v["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
				`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"minCapacity":0,"maxCapacity":4,"maxLifetime":"2h","idleTimeout":"1h"}`
			if code, _, raw := call(t, r0.Client, "POST", r0.URL+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != http.StatusCreated {
				t.Fatalf("create pool %s = %d %s", name, code, raw)
			}
			names = append(names, name)
		}
	}
	vc := c.Client(t, c.Leader(t, 30*time.Second))
	mount := s.mount

	// Demand through every replica at once: each report reconciles its
	// pool at once on the replica it reached, racing the periodic passes.
	report := func(pending int, to []int) {
		var wg sync.WaitGroup
		for i, name := range names {
			r := s.rs[to[i%len(to)]]
			wg.Go(func() {
				body := fmt.Sprintf(`{"pending":%d,"running":0,"idle":0}`, pending)
				if code, _, raw := call(t, r.Client, "POST", r.URL+"/v1/pools/"+name+"/demand", testAdminToken, "application/json", []byte(body)); code != http.StatusOK {
					t.Errorf("demand %s = %d %s", name, code, raw)
				}
			})
		}
		wg.Wait()
	}
	report(1, []int{0, 1, 2})
	waitPools(t, s, names, 1, 60*time.Second)
	// Passes go on; nothing more may launch.
	time.Sleep(3 * interval)
	checkPools(t, s, names, 1)

	holders := poolLeases(t, vc, mount, names)
	spread := map[string]int{}
	for _, h := range holders {
		spread[h]++
	}
	t.Logf("leases per replica: %v", slices.Sorted(maps.Values(spread)))
	if len(holders) != pools {
		t.Errorf("%d of %d pools under a running lease, want all: a pass outlasted the leases it renewed", len(holders), pools)
	}
	if len(spread) != 3 {
		t.Errorf("leases held by %d replicas, want all 3: %v", len(spread), spread)
	}
	// share(200, 3): ⌈200/3⌉ plus 10 %.
	const maxShare = 67 + 6
	for h, n := range spread {
		if n > maxShare {
			t.Errorf("replica %s holds %d pools, over its share %d", h, n, maxShare)
		}
	}

	// kill -9 replica 2: its leases stay in the store until they lapse.
	before := replicaEntries(t, vc, mount)
	s.rs[2].Kill9(t)
	killed := time.Now()
	// The dead one is the entry that lapses: the live ones renew theirs
	// at every pass, and drop lapsed ones when they write.
	var dead string
	for deadline := time.Now().Add(6 * interval); dead == ""; time.Sleep(100 * time.Millisecond) {
		after, now := replicaEntries(t, vc, mount), time.Now().UnixNano()
		var lapsed []string
		for h := range before {
			if after[h] <= now {
				lapsed = append(lapsed, h)
			}
		}
		switch {
		case len(lapsed) > 1:
			t.Fatalf("replica entries %v lapsed; only one replica was killed (passes slower than their lease?)", lapsed)
		case len(lapsed) == 1:
			dead = lapsed[0]
		case time.Now().After(deadline):
			t.Fatalf("no replica entry lapsed within %s of kill -9: %v", 6*interval, after)
		}
	}
	// Its leases end when they end (two intervals from its last renewal,
	// or two of its last pass when passes ran long); a survivor's next
	// pass after that takes each pool, so all are taken within an
	// interval of the last end, plus a pass's length on a busy machine.
	var end int64
	for name, l := range poolLeaseRecs(t, vc, mount, names) {
		if holders[name] == dead && l.Holder == dead {
			end = max(end, l.Until)
		}
	}
	bound := time.Unix(0, end).Add(interval + 5*time.Second)
	// Taken over: each of its pools under a live lease of a survivor.
	for {
		now, left := poolLeases(t, vc, mount, names), 0
		for name, h := range holders {
			if h == dead && (now[name] == "" || now[name] == dead) {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(bound) {
			t.Fatalf("%d of the killed replica's %d pools not taken over %s after kill -9 (its last lease ended %s after it)",
				left, spread[dead], time.Since(killed).Round(time.Millisecond), time.Unix(0, end).Sub(killed).Round(time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the killed replica's %d pools all taken over %s after kill -9 (interval %s)", spread[dead], time.Since(killed).Round(10*time.Millisecond), interval)
	report(2, []int{0, 1})
	waitPools(t, s, names, 2, 90*time.Second)
	time.Sleep(3 * interval)
	checkPools(t, s, names, 2)
}

// poolCounts counts awssim's live instances per pool tag.
func poolCounts(s *replicas) map[string]int {
	got := map[string]int{}
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			if in.State == "pending" || in.State == "running" {
				if p := tagOf(in, spot.TagPool); p != "" {
					got[p]++
				}
			}
		}
	}
	return got
}

// waitPools waits until every pool has want live instances, failing at
// once when one has more.
func waitPools(t *testing.T, s *replicas, names []string, want int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		got := poolCounts(s)
		short := 0
		for _, n := range names {
			switch {
			case got[n] > want:
				t.Fatalf("pool %s has %d instances, want %d: launched twice", n, got[n], want)
			case got[n] < want:
				short++
			}
		}
		if short == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pools short of %d instances after %s", short, len(names), want, within)
		}
	}
}

func checkPools(t *testing.T, s *replicas, names []string, want int) {
	t.Helper()
	got := poolCounts(s)
	for _, n := range names {
		if got[n] != want {
			t.Errorf("pool %s has %d instances, want exactly %d", n, got[n], want)
		}
	}
}

// kvPublic reads a record's public half as spotter's Vault store writes
// it ({"public": base64}) with the cluster's root client.
func kvPublic(t *testing.T, vc *api.Client, mount, key string, into any) bool {
	t.Helper()
	sec, err := vc.KVv2(mount).Get(t.Context(), key)
	if err != nil {
		if errors.Is(err, api.ErrSecretNotFound) {
			return false
		}
		t.Fatalf("read %s: %v", key, err)
	}
	p, _ := sec.Data["public"].(string)
	var b []byte
	if err := json.Unmarshal([]byte(`"`+p+`"`), &b); err != nil {
		t.Fatalf("%s: public half is not base64: %v", key, err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return true
}

type leaseRec struct {
	Holder string `json:"holder"`
	Until  int64  `json:"until"` // unix ns
}

// poolLeaseRecs reads each pool's lease record as the reconciler wrote it.
func poolLeaseRecs(t *testing.T, vc *api.Client, mount string, names []string) map[string]leaseRec {
	t.Helper()
	out := map[string]leaseRec{}
	for _, n := range names {
		var rec leaseRec
		if kvPublic(t, vc, mount, "leases/pools/"+n, &rec) {
			out[n] = rec
		}
	}
	return out
}

// poolLeases answers each pool's lease holder, when its lease runs.
func poolLeases(t *testing.T, vc *api.Client, mount string, names []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	now := time.Now().UnixNano()
	for n, rec := range poolLeaseRecs(t, vc, mount, names) {
		if rec.Until > now {
			out[n] = rec.Holder
		}
	}
	return out
}

// replicaEntries is the leases/replicas record: holder → lapse (unix ns).
func replicaEntries(t *testing.T, vc *api.Client, mount string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	kvPublic(t, vc, mount, "leases/replicas", &out)
	return out
}
