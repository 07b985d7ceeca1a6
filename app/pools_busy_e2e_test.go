package app_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// TestPoolBusyFromGitHubEvents: serve takes which instance runs a job from
// the GitHub events (runner_name carries the instance id), not from the
// age of the instances: of two idle instances, the newer one runs the job
// and stays, and the older one, which the demand's guess would have called
// busy, ends as idle.
func TestPoolBusyFromGitHubEvents(t *testing.T) {
	const secret = "busy-idle-webhook-secret"
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	tok := s.createToken(t, `{"name":"pool-token","credentials":`+keysJSON()+`,"policy":`+poolPolicy+`}`)
	code, created, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(
		`{"name":"linux-ci","tokenId":"`+tok["id"].(string)+`","region":"us-east-1","ami":"ami-0123456789abcdef0",`+
			`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"minCapacity":0,"maxCapacity":20,"maxLifetime":"2h","labels":["linux"]}`))
	if code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	hook := created["url"].(string) + "/github"
	if code, _, raw := call(t, s.client, "PATCH", s.base+"/v1/pools/linux-ci/sources", testAdminToken, "application/json",
		[]byte(`{"github": {"webhookSecret": "`+secret+`"}}`)); code != http.StatusOK {
		t.Fatalf("PATCH sources = %d %s", code, raw)
	}
	deliver := func(id string, job int, action, runner string) {
		t.Helper()
		rn := "null"
		if runner != "" {
			rn = `"` + runner + `"`
		}
		body := []byte(fmt.Sprintf(`{"action": %q, "workflow_job": {"id": %d, "labels": ["linux"], "runner_name": %s}, "repository": {"full_name": "octo/app"}}`,
			action, job, rn))
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req, _ := http.NewRequest("POST", hook, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "workflow_job")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s delivery = %d", action, resp.StatusCode)
		}
	}
	// Two jobs queued: two instances, launched one after the other.
	deliver("d-1", 1, "queued", "")
	eventually(t, s, "one running instance", func() bool { return running(ps.sim) == 1 })
	ps.clock.Advance(time.Minute)
	deliver("d-2", 2, "queued", "")
	eventually(t, s, "two running instances", func() bool { return running(ps.sim) == 2 })
	ins := poolInstances(ps.sim, "linux-ci")
	slices.SortFunc(ins, func(a, b awssim.InstanceState) int { return a.LaunchTime.Compare(b.LaunchTime) })
	older, newer := ins[0].InstanceID, ins[1].InstanceID
	ps.clock.Advance(2 * time.Minute) // past EC2's minimum charge
	// Job 1 starts on the newer instance's runner; job 2 is cancelled
	// before it ran.
	deliver("d-3", 1, "in_progress", newer+"-1")
	deliver("d-4", 2, "completed", "")
	eventually(t, s, "one instance left", func() bool { return len(poolInstances(ps.sim, "linux-ci")) == 1 })
	time.Sleep(time.Second) // five passes more
	var left []string
	for _, in := range poolInstances(ps.sim, "linux-ci") {
		left = append(left, in.InstanceID)
	}
	if len(left) != 1 || left[0] != newer {
		t.Fatalf("left %v; want the newer %s, which runs the job (the older %s was idle)", left, newer, older)
	}
	if !strings.Contains(s.logs.String(), `"reason":"idle_timeout"`) {
		t.Error("no idle end in the audit log")
	}
}

func running(sim *awssim.Sim) int {
	n := 0
	for _, in := range poolInstances(sim, "linux-ci") {
		if in.State == "running" {
			n++
		}
	}
	return n
}

// TestPoolBusyFromHeartbeats: with no CI source naming them, what the
// instances' heartbeats say decides: the older one says idle, the newer
// busy, so of a demand of one running job the older one ends as idle —
// the guess alone (running jobs go to the oldest) would have ended the
// newer one.
func TestPoolBusyFromHeartbeats(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	s := ps.serve(t)
	danglingPool(t, s)
	demand(t, s, "bk", `{"pending":1,"running":0,"idle":0}`)
	eventually(t, s, "one instance", func() bool { return len(poolInstances(ps.sim, "bk")) == 1 })
	ps.clock.Advance(time.Minute - 10*time.Second) // past the scale-out cooldown, within bootTimeout
	older := poolInstances(ps.sim, "bk")[0].InstanceID
	hbOld := handOff(t, ps, s, older)
	demand(t, s, "bk", `{"pending":1,"running":1,"idle":0}`)
	eventually(t, s, "two instances", func() bool { return len(poolInstances(ps.sim, "bk")) == 2 })
	var newer string
	for _, in := range poolInstances(ps.sim, "bk") {
		if in.InstanceID != older {
			newer = in.InstanceID
		}
	}
	hbNew := handOff(t, ps, s, newer)
	if code, _, raw := call(t, s.client, "PATCH", s.base+"/v1/pools/bk", testAdminToken, "application/json", []byte(`{"idleTimeout":"0s"}`)); code != http.StatusOK {
		t.Fatalf("PATCH idleTimeout = %d %s", code, raw)
	}
	ps.clock.Advance(2 * time.Minute) // past EC2's minimum charge
	stateBeat(t, s, hbOld, older, "idle")
	stateBeat(t, s, hbNew, newer, "busy")
	demand(t, s, "bk", `{"pending":0,"running":1,"idle":1}`)
	eventually(t, s, "one instance left", func() bool { return len(poolInstances(ps.sim, "bk")) == 1 })
	if left := poolInstances(ps.sim, "bk"); left[0].InstanceID != newer {
		t.Fatalf("left %s; want the newer %s, whose heartbeat said busy", left[0].InstanceID, newer)
	}
}

func stateBeat(t *testing.T, s *stack, cred, id, state string) {
	t.Helper()
	body := `{"credential":"` + cred + `","instanceId":"` + id + `","state":"` + state + `"}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/instances/heartbeat", "", "application/json", []byte(body)); code != http.StatusOK {
		t.Fatalf("heartbeat = %d %s", code, raw)
	}
}
