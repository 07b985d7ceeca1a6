package app_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/spot"
)

// TestPoolDemandUp: a demand report makes the reconciler launch the
// pool's capacity in one weighted CreateFleet; the instances carry the
// pool's tag, the token's and a TTL; more passes launch nothing more.
func TestPoolDemandUp(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			ps := newPoolStack(t, backend)
			s := ps.serve(t)
			createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1},{"instanceType":"c5.2xlarge","capacity":4}]`)
			demand(t, s, "linux-ci", `{"pending":6,"running":0,"idle":0}`)
			eventually(t, s, "6 units of the pool", func() bool { return units(poolInstances(ps.sim, "linux-ci")) >= 6 })
			time.Sleep(time.Second) // five passes more
			ins := poolInstances(ps.sim, "linux-ci")
			if u := units(ins); u >= 6+4 {
				t.Errorf("%d units for a demand of 6", u)
			}
			fleets := ps.createFleets()
			if len(fleets) != 1 {
				t.Fatalf("%d CreateFleet calls, want 1", len(fleets))
			}
			q := fleets[0]
			if q.Get("TargetCapacitySpecification.TotalTargetCapacity") != "6" ||
				q.Get("SpotOptions.AllocationStrategy") != "price-capacity-optimized" {
				t.Errorf("CreateFleet: %v", q)
			}
			seen := map[string]string{}
			for k, v := range q {
				if typ, ok := strings.CutSuffix(k, ".InstanceType"); ok && strings.Contains(k, ".Overrides.") {
					seen[v[0]] = q.Get(typ + ".WeightedCapacity")
				}
			}
			if seen["c5.large"] != "1" || seen["c5.2xlarge"] != "4" {
				t.Errorf("override weights %v", seen)
			}
			for _, in := range ins {
				if tagOf(in, spot.TagToken) == "" || tagOf(in, spot.TagExpiresAt) == "" ||
					!strings.HasPrefix(tagOf(in, spot.TagClientToken), "spp-") {
					t.Errorf("%s tags %v", in.InstanceID, in.Tags)
				}
			}
			if !strings.Contains(s.logs.String(), `"msg":"pool decision"`) {
				t.Error("no audit event of a pool decision in the log")
			}
		})
	}
}

// TestPoolDemandDown: with fewer jobs running than instances, only the
// idle ones end (running jobs go to the oldest instances first).
func TestPoolDemandDown(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, s, "linux-ci", `{"pending":4,"running":0,"idle":0}`)
	eventually(t, s, "4 running instances", func() bool {
		ins := poolInstances(ps.sim, "linux-ci")
		return len(ins) == 4 && !slices.ContainsFunc(ins, func(in awssim.InstanceState) bool { return in.State != "running" })
	})
	ps.clock.Advance(2 * time.Minute) // past EC2's minimum charge
	before := poolInstances(ps.sim, "linux-ci")
	slices.SortFunc(before, func(a, b awssim.InstanceState) int {
		if c := a.LaunchTime.Compare(b.LaunchTime); c != 0 {
			return c
		}
		return strings.Compare(a.InstanceID, b.InstanceID)
	})
	demand(t, s, "linux-ci", `{"pending":0,"running":2,"idle":2}`)
	eventually(t, s, "2 instances left", func() bool { return len(poolInstances(ps.sim, "linux-ci")) == 2 })
	time.Sleep(time.Second)
	var left []string
	for _, in := range poolInstances(ps.sim, "linux-ci") {
		left = append(left, in.InstanceID)
	}
	slices.Sort(left)
	busy := []string{before[0].InstanceID, before[1].InstanceID}
	slices.Sort(busy)
	if !slices.Equal(left, busy) {
		t.Errorf("left %v; want the two running the jobs %v", left, busy)
	}
	if n := strings.Count(s.logs.String(), `"reason":"idle_timeout"`); n < 2 {
		t.Errorf("%d idle ends in the audit log, want 2", n)
	}
}

// TestPoolTwoReplicas: two serve processes on one Vault reconcile the same
// pool; the lease lets one act, and the pool is launched once.
func TestPoolTwoReplicas(t *testing.T) {
	ps := newPoolStack(t, "vault")
	// A lease of 2 s: a slow pass on a loaded machine does not outlast it,
	// so the holder keeps it and the other replica never decides.
	ps.cfg.Timeouts.PoolInterval = time.Second
	a, b := ps.serve(t), ps.serve(t)
	createPool(t, a, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, b, "linux-ci", `{"pending":5,"running":0,"idle":0}`)
	eventually(t, b, "5 instances", func() bool { return len(poolInstances(ps.sim, "linux-ci")) >= 5 })
	time.Sleep(3 * time.Second) // three passes of each
	if n := len(poolInstances(ps.sim, "linux-ci")); n != 5 {
		t.Errorf("%d instances for a demand of 5", n)
	}
	if n := len(ps.createFleets()); n != 1 {
		t.Errorf("%d CreateFleet calls, want 1", n)
	}
	// The lease holder alone decides: the other replica's log has none.
	da, db := strings.Count(a.logs.String(), `"msg":"pool decision"`), strings.Count(b.logs.String(), `"msg":"pool decision"`)
	if (da == 0) == (db == 0) {
		t.Errorf("decisions: %d by one replica, %d by the other; want one replica alone", da, db)
	}
}

// TestPoolCrashMidLaunch: a replica persists its launch, EC2 carries the
// CreateFleet out, and the replica goes before it hears. The replica that
// takes the pool over sends that launch again with its ClientToken: the
// first fleet's instances are the answer, and nothing more starts.
func TestPoolCrashMidLaunch(t *testing.T) {
	ps := newPoolStack(t, "vault")
	ps.hold, ps.held = make(chan struct{}), make(chan struct{})
	a := ps.serve(t)
	createPool(t, a, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, a, "linux-ci", `{"pending":3,"running":0,"idle":0}`)
	select {
	case <-ps.held:
	case <-time.After(20 * time.Second):
		t.Fatal("no CreateFleet")
	}
	started := poolInstances(ps.sim, "linux-ci")
	if len(started) != 3 {
		t.Fatalf("the held CreateFleet started %d, want 3", len(started))
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	b := ps.serve(t)
	demand(t, b, "linux-ci", `{"pending":3,"running":0,"idle":0}`)
	eventually(t, b, "b's audit of the launch", func() bool { return strings.Contains(b.logs.String(), `"msg":"pool launch"`) })
	time.Sleep(time.Second)
	if got := poolInstances(ps.sim, "linux-ci"); len(got) != 3 {
		t.Errorf("%d instances after the takeover, want the first fleet's 3", len(got))
	}
	token := tagOf(started[0], spot.TagClientToken)
	for _, q := range ps.createFleets() {
		if q.Get("ClientToken") != token {
			t.Errorf("a CreateFleet with ClientToken %s, want only the first's %s", q.Get("ClientToken"), token)
		}
	}
	if !strings.Contains(b.logs.String(), `"replayed":true`) {
		t.Errorf("b's launch was not the first one found again:\n%s", b.logs.String())
	}
}

// TestPoolDemandNotifies: a demand report starts a pass at once; the
// interval (an hour here) is only the fallback.
func TestPoolDemandNotifies(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	ps.cfg.Timeouts.PoolInterval = time.Hour
	s := ps.serve(t)
	createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, s, "linux-ci", `{"pending":2,"running":0,"idle":0}`)
	eventually(t, s, "2 instances launched on the report", func() bool { return len(poolInstances(ps.sim, "linux-ci")) == 2 })
}

// TestPoolMetrics: /metrics shows each pool's desired, running, pending
// and launches after its reconciler acted.
func TestPoolMetrics(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, s, "linux-ci", `{"pending":3,"running":0,"idle":0}`)
	want := []string{
		`spotter_pool_desired_capacity{pool="linux-ci"} 3`,
		`spotter_pool_running_capacity{pool="linux-ci"} 0`, // no job runs yet
		`spotter_pool_idle_capacity{pool="linux-ci"} 3`,
		`spotter_pool_pending_jobs{pool="linux-ci"} 3`,
		`spotter_pool_instances_launched_total{pool="linux-ci"} 3`,
		`spotter_pool_interruptions_total{pool="linux-ci"} 0`,
		`spotter_pool_hourly_cost_dollars{pool="linux-ci"}`,
	}
	var text string
	eventually(t, s, "the pool's metrics", func() bool {
		resp, err := s.client.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		text = string(b)
		return !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(text, w) })
	})
}

// TestPoolDelete: a deleted pool drains (its idle and booting instances
// end, nothing launches), and its record goes once none is left; until
// then GET shows what the reconciler recorded.
func TestPoolDelete(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, s, "linux-ci", `{"pending":3,"running":0,"idle":0}`)
	eventually(t, s, "GET shows the 3 instances recorded", func() bool {
		code, v, _ := call(t, s.client, "GET", s.base+"/v1/pools/linux-ci", testAdminToken, "", nil)
		ins, _ := v["instances"].([]any)
		return code == http.StatusOK && len(ins) == 3 && v["idle"] == 3.0 // no job runs
	})
	code, _, raw := call(t, s.client, "DELETE", s.base+"/v1/pools/linux-ci", testAdminToken, "", nil)
	if code != http.StatusAccepted {
		t.Fatalf("delete = %d %s", code, raw)
	}
	eventually(t, s, "the pool's instances ended and its record gone", func() bool {
		code, _, _ := call(t, s.client, "GET", s.base+"/v1/pools/linux-ci", testAdminToken, "", nil)
		return len(poolInstances(ps.sim, "linux-ci")) == 0 && code == http.StatusNotFound
	})
	if n := len(ps.createFleets()); n != 1 {
		t.Errorf("%d CreateFleet calls, want the one before the delete", n)
	}
	// The record goes a moment before this replica drops the pool's
	// series, so wait; a series that came back for good still fails.
	eventually(t, s, "/metrics no longer shows the removed pool", func() bool {
		resp, err := s.client.Get(s.base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return !strings.Contains(string(b), `pool="linux-ci"`)
	})
}

// TestPoolKill9MidLaunch is TestPoolCrashMidLaunch with a real crash: a
// `spotter serve` process is killed (-9) after EC2 carried out its
// CreateFleet and before it heard back, holding the pool's lease. Another
// replica takes the pool over once the lease lapses and finds the first
// fleet by its ClientToken: nothing more starts.
func TestPoolKill9MidLaunch(t *testing.T) {
	bin, err := spotterBinary()
	if err != nil {
		t.Fatal(err)
	}
	ps := newPoolStack(t, "vault")
	ps.hold, ps.held = make(chan struct{}), make(chan struct{})
	env := map[string]string{
		"SPOTTER_ADMIN_TOKEN": testAdminToken, "SPOTTER_POOL_INTERVAL": "200ms", "SPOTTER_REAPER_INTERVAL": "0",
		"AWS_ENDPOINT_URL_EC2": ps.simURL, "AWS_ENDPOINT_URL_STS": ps.simURL, "AWS_ENDPOINT_URL_PRICING": ps.simURL,
		"AWS_ACCESS_KEY_ID": awssim.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY": awssim.DefaultSecretAccessKey,
		"AWS_EC2_METADATA_DISABLED": "true",
		"VAULT_ADDR":                ps.cfg.VaultAddr, "VAULT_TOKEN": ps.cfg.VaultToken, "SPOTTER_VAULT_MOUNT": ps.cfg.VaultMount,
	}
	r := e2e.Start(t, bin, "a", env)
	a := &stack{base: r.URL, client: r.Client, logs: r.Log}
	createPool(t, a, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, a, "linux-ci", `{"pending":3,"running":0,"idle":0}`)
	select {
	case <-ps.held:
	case <-time.After(20 * time.Second):
		t.Fatalf("no CreateFleet; a's log:\n%s", r.Log)
	}
	r.Kill9(t)
	started := poolInstances(ps.sim, "linux-ci")
	if len(started) != 3 {
		t.Fatalf("the CreateFleet started %d, want 3", len(started))
	}
	b := ps.serve(t)
	eventually(t, b, "b's launch of the pending decision", func() bool { return strings.Contains(b.logs.String(), `"msg":"pool launch"`) })
	time.Sleep(time.Second)
	if got := poolInstances(ps.sim, "linux-ci"); len(got) != 3 {
		t.Errorf("%d instances after the takeover, want the first fleet's 3", len(got))
	}
	token := tagOf(started[0], spot.TagClientToken)
	for _, q := range ps.createFleets() {
		if q.Get("ClientToken") != token {
			t.Errorf("a CreateFleet with ClientToken %s, want only the first's %s", q.Get("ClientToken"), token)
		}
	}
	if !strings.Contains(b.logs.String(), `"replayed":true`) {
		t.Errorf("b's launch was not the first one found again:\n%s", b.logs.String())
	}
}

// TestPoolInterruption: a busy instance that gets a spot interruption
// notice is replaced before it ends (and left to finish its job); an idle
// one with a notice is ended and counted.
func TestPoolInterruption(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	createPool(t, s, "linux-ci", `[{"instanceType":"c5.large","capacity":1}]`)
	demand(t, s, "linux-ci", `{"pending":2,"running":0,"idle":0}`)
	eventually(t, s, "2 running instances", func() bool {
		ins := poolInstances(ps.sim, "linux-ci")
		return len(ins) == 2 && ins[0].State == "running" && ins[1].State == "running"
	})
	ps.clock.Advance(2 * time.Minute) // past EC2's minimum charge
	first := poolInstances(ps.sim, "linux-ci")
	slices.SortFunc(first, func(a, b awssim.InstanceState) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	noticed := first[1].InstanceID // the younger by id: the rule gives jobs to the lower id first
	demand(t, s, "linux-ci", `{"pending":0,"running":2,"idle":0}`)
	if err := ps.sim.Interrupt(noticed); err != nil {
		t.Fatal(err)
	}
	eventually(t, s, "a replacement launched", func() bool { return len(ps.createFleets()) == 2 })
	if !slices.ContainsFunc(poolInstances(ps.sim, "linux-ci"), func(in awssim.InstanceState) bool { return in.InstanceID == noticed }) {
		t.Errorf("spotter ended the busy instance %s under notice; EC2 ends it, after its job", noticed)
	}
	// One job left, on the oldest: the noticed one is idle now, and ended.
	demand(t, s, "linux-ci", `{"pending":0,"running":1,"idle":0}`)
	eventually(t, s, "the noticed instance ended as interrupted", func() bool {
		return strings.Contains(s.logs.String(), `{"id":"`+noticed+`","reason":"interrupted"}`)
	})
	eventually(t, s, "the interruption counted", func() bool {
		resp, err := s.client.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `spotter_pool_interruptions_total{pool="linux-ci"} 1`)
	})
}

// TestPoolWithinTokenCaps: the pool's token also launches by hand; its
// maxRunning counts both, so the pool takes only the room left.
func TestPoolWithinTokenCaps(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	tok := s.createToken(t, `{"name":"shared","credentials":`+keysJSON()+`,"policy":{"regions":["us-east-1"],"instanceTypes":["c5.large"],"amis":["ami-0123456789abcdef0"],"maxCount":3,"maxRunning":3,"maxTTL":"4h","tasks":["launch","terminate","status"]}}`)
	if code, _, raw := s.task(t, tok["url"].(string), `{"task":"launch","instanceTypes":["c5.large"],"ami":"ami-0123456789abcdef0","ttl":"1h"}`, map[string]string{"Idempotency-Key": "by-hand"}); code != 200 {
		t.Fatalf("launch by hand = %d %s", code, raw)
	}
	body := `{"name":"shared-ci","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"maxCapacity":3,"maxLifetime":"2h"}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	demand(t, s, "shared-ci", `{"pending":3,"running":0,"idle":0}`)
	eventually(t, s, "the pool's 2 instances", func() bool { return len(poolInstances(ps.sim, "shared-ci")) == 2 })
	time.Sleep(time.Second) // five passes more
	if n := len(poolInstances(ps.sim, "shared-ci")); n != 2 {
		t.Errorf("the pool runs %d, want the 2 the token's maxRunning 3 leaves", n)
	}
	if n := s.liveInstances(); n != 3 {
		t.Errorf("the token runs %d in all, want its maxRunning 3", n)
	}
}
