package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/reconcile"
)

// danglingPool is a bootstrapped pool whose instances must bootstrap
// within a minute and beat every 5 s (heartbeatTimeout 15s); idle ones
// stay an hour, so a recovered instance is not scaled in at once.
func danglingPool(t *testing.T, s *stack) {
	t.Helper()
	tok := s.createToken(t, `{"name":"pool-token","credentials":`+keysJSON()+`,"policy":`+
		strings.Replace(poolPolicy, `"tasks"`, `"allowUserData":true,"tasks"`, 1)+`}`)
	body := `{"name":"bk","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"maxCapacity":20,"maxLifetime":"2h",` +
		`"bootstrap":"buildkite-agent","bootTimeout":"1m","heartbeatTimeout":"15s","idleTimeout":"1h"}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
}

// handOff trades an instance's user data credential, as its script
// would, and returns its heartbeat credential.
func handOff(t *testing.T, ps *poolStack, s *stack, id string) string {
	t.Helper()
	resp, err := http.Get(ps.simURL + "/_sim/imds/" + id + "/latest/user-data")
	if err != nil {
		t.Fatal(err)
	}
	ud, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`SPOTTER_CREDENTIAL=(spb_[a-z2-7]{52})\n`).FindSubmatch(ud)
	if m == nil {
		t.Fatalf("user data:\n%s", ud)
	}
	req, _ := json.Marshal(map[string]string{"credential": string(m[1]), "instanceId": id})
	code, v, raw := call(t, s.client, "POST", s.base+"/v1/instances/bootstrap", "", "application/json", req)
	if code != http.StatusOK || v["heartbeatInterval"] != float64(5) {
		t.Fatalf("bootstrap = %d %s", code, raw)
	}
	return v["heartbeat"].(string)
}

func beat(t *testing.T, s *stack, cred, id string) {
	t.Helper()
	body := `{"credential":"` + cred + `","instanceId":"` + id + `","state":"idle"}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/instances/heartbeat", "", "application/json", []byte(body)); code != http.StatusOK {
		t.Fatalf("heartbeat = %d %s", code, raw)
	}
}

func instanceByID(sim *awssim.Sim, id string) (awssim.InstanceState, bool) {
	for _, r := range sim.State().Regions {
		if i := slices.IndexFunc(r.Instances, func(in awssim.InstanceState) bool { return in.InstanceID == id }); i >= 0 {
			return r.Instances[i], true
		}
	}
	return awssim.InstanceState{}, false
}

// TestPoolDanglingInstances: of a pool's two instances, the one that
// never bootstraps is tagged dangling once bootTimeout has passed and
// replaced, then terminated a pass later; the one that bootstrapped and
// beats is never tagged. When it falls silent for heartbeatTimeout it is
// tagged too, and its next beat untags it. The metrics count it.
func TestPoolDanglingInstances(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	danglingPool(t, s)
	demand(t, s, "bk", `{"pending":2,"running":0,"idle":0}`)
	eventually(t, s, "the pool's two instances", func() bool { return len(poolInstances(ps.sim, "bk")) == 2 })
	ins := poolInstances(ps.sim, "bk")
	alive, never := ins[0].InstanceID, ins[1].InstanceID
	hb := handOff(t, ps, s, alive)

	// Seven steps of 10 s, a beat after each: past the minute of bootTimeout.
	for range 7 {
		ps.clock.Advance(10 * time.Second)
		beat(t, s, hb, alive)
	}
	demand(t, s, "bk", `{"pending":2,"running":0,"idle":0}`)
	eventually(t, s, "the instance that never bootstrapped tagged dangling, and its replacement", func() bool {
		in, _ := instanceByID(ps.sim, never)
		return tagOf(in, reconcile.TagDanglingReason) == reconcile.DanglingNoBootstrap && len(poolInstances(ps.sim, "bk")) == 3
	})
	if in, _ := instanceByID(ps.sim, never); in.State != "running" {
		t.Fatalf("terminated at once (%s); the first pass only tags", in.State)
	} else if _, err := time.Parse(time.RFC3339, tagOf(in, reconcile.TagDangling)); err != nil {
		t.Errorf("%s = %q; want an RFC 3339 time", reconcile.TagDangling, tagOf(in, reconcile.TagDangling))
	}

	// The grace is the heartbeat interval (5 s): a pass after it ends it.
	ps.clock.Advance(6 * time.Second)
	beat(t, s, hb, alive)
	eventually(t, s, "the dangling instance terminated", func() bool {
		in, _ := instanceByID(ps.sim, never)
		return in.State == "shutting-down" || in.State == "terminated"
	})
	if in, _ := instanceByID(ps.sim, alive); in.State != "running" || tagOf(in, reconcile.TagDangling) != "" {
		t.Fatalf("the heartbeating instance: %s, tags %v", in.State, in.Tags)
	}
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"pool dangling"`) && strings.Contains(l, alive) {
			t.Errorf("a dangling event names the heartbeating instance: %s", l)
		}
	}

	// Silent for heartbeatTimeout: tagged; its next beat untags it.
	ps.clock.Advance(16 * time.Second)
	demand(t, s, "bk", `{"pending":2,"running":0,"idle":0}`)
	eventually(t, s, "the silent instance tagged", func() bool {
		in, _ := instanceByID(ps.sim, alive)
		return tagOf(in, reconcile.TagDanglingReason) == reconcile.DanglingNoHeartbeat
	})
	beat(t, s, hb, alive)
	eventually(t, s, "the instance untagged after its beat", func() bool {
		in, _ := instanceByID(ps.sim, alive)
		// The audit event follows the untag and the record's update.
		return in.State == "running" && tagOf(in, reconcile.TagDangling) == "" && tagOf(in, reconcile.TagDanglingReason) == "" &&
			strings.Contains(s.logs.String(), `"outcome":"recovered"`)
	})
	logs := s.logs.String()
	for _, want := range []string{`"outcome":"tagged"`, `"outcome":"terminated"`, `"outcome":"recovered"`} {
		if !strings.Contains(logs, `"msg":"pool dangling"`) || !strings.Contains(logs, want) {
			t.Errorf("no pool dangling event %s", want)
		}
	}
	if strings.Contains(logs, hb) {
		t.Error("the heartbeat credential is in serve's log")
	}

	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := `spotter_pool_dangling_terminations_total{pool="bk",reason="no_bootstrap"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if !strings.Contains(string(b), `spotter_pool_dangling_instances{pool="bk"}`) {
		t.Error("/metrics lacks the dangling gauge")
	}
}
