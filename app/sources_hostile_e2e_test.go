package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	fakebk "github.com/spotter-dev/spotter/internal/fakeci/buildkite"
	fakegh "github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/server"
)

// hostile is one delivery an attacker or a misconfigured sender makes,
// and what serve must answer: a 4xx with its error code, or 200 with
// outcome "ignored" (what is not the pool's; GitHub disables a hook whose
// deliveries fail).
type hostile struct {
	path    string // after the serve base; "" is the pool's hook
	header  http.Header
	body    []byte
	status  int
	code    string // the error code, or the outcome of a 200
	contain string // in the reply's details or reason
}

// sendHostile posts each case to the pool's hook and checks the answer;
// then, on a pass taken after all of them with the demand they leave (no
// job), the pool launches nothing, no CreateFleet was ever made, and no
// canary secret is in serve's log.
func sendHostile(t *testing.T, ss *srcStack, name, hook string, cases map[string]hostile, canaries ...string) {
	t.Helper()
	for what, h := range cases {
		url := hook
		if h.path != "" {
			url = ss.s.base + h.path
		}
		req, err := http.NewRequest("POST", url, bytes.NewReader(h.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h.header
		resp, err := ss.s.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		got, _ := v["error"].(string)
		if resp.StatusCode == 200 {
			got, _ = v["outcome"].(string)
		}
		text, _ := json.Marshal(v)
		if resp.StatusCode != h.status || got != h.code || !strings.Contains(string(text), h.contain) {
			t.Errorf("%s: %d %s; want %d %s mentioning %q", what, resp.StatusCode, text, h.status, h.code, h.contain)
		}
	}
	if ev := ss.decisionAfter(t, name, ss.clock.Now(), pool.Demand{}); ev.Decision.Changes() {
		t.Errorf("after the hostile deliveries the pool changes: %+v", ev.Decision)
	}
	if n := len(ss.createFleets()); n != 0 {
		t.Errorf("%d CreateFleet calls; hostile deliveries launch nothing", n)
	}
	logs := ss.s.logs.String()
	for _, c := range canaries {
		if strings.Contains(logs, c) {
			t.Errorf("serve's log holds the secret %q", c)
		}
	}
}

// padTo pads a JSON body with trailing spaces (still the same JSON) to n
// bytes.
func padTo(t *testing.T, body []byte, n int) []byte {
	t.Helper()
	if len(body) > n {
		t.Fatalf("body of %d bytes is past %d already", len(body), n)
	}
	return append(body, bytes.Repeat([]byte(" "), n-len(body))...)
}

// TestSourceGitHubHostile: forged, unsigned, replayed, foreign and
// oversized workflow_job deliveries to a pool's GitHub hook, over serve's
// HTTPS, each get their clear answer and none launches an instance.
func TestSourceGitHubHostile(t *testing.T) {
	ss := newSrcStack(t, "embedded")
	hooks := ss.createPool(t, "gh-ci", `,"labels":["self-hosted","linux"]`, `{"github":{"webhookSecret":"`+ghE2ESecret+`"}}`)
	gh := fakegh.New(ghE2EToken) // only for its payloads and signatures
	limit, err := server.ParseBodyLimit(ss.cfg.BodyLimit)
	if err != nil {
		t.Fatal(err)
	}
	payload := func(action string, labels ...string) []byte {
		b, _ := json.Marshal(gh.WorkflowJobPayload(action, fakegh.Job{ID: 4000000001, RunID: 1000000001, Repo: ghE2ERepo, Name: "build",
			Labels: labels, Status: action, Created: time.Now().UTC().Truncate(time.Second)}))
		return b
	}
	signed := func(secret, event, id string, body []byte) http.Header {
		req, _ := http.NewRequest("POST", "/", nil)
		fakegh.SignRequest(req, secret, event, id, body)
		return req.Header
	}
	queued := payload("queued", "self-hosted", "linux")
	unsigned := signed("", "workflow_job", "d-unsigned", queued)
	// A job completed before spotter heard of it counts nothing; the same
	// delivery again is a replay.
	done := payload("completed", "self-hosted", "linux")
	doneHdr := signed(ghE2ESecret, "workflow_job", "d-done", done)
	foreign := payload("queued", "self-hosted", "gpu")
	atLimit := padTo(t, payload("queued", "self-hosted", "windows"), int(limit))
	past := padTo(t, payload("queued", "self-hosted", "linux"), int(limit)+1)

	sendHostile(t, ss, "gh-ci", hooks+"/github", map[string]hostile{
		"no signature":   {header: unsigned, body: queued, status: 401, code: "signature_invalid", contain: "X-Hub-Signature-256 is missing"},
		"wrong secret":   {header: signed("not-the-secret", "workflow_job", "d-wrong", queued), body: queued, status: 401, code: "signature_invalid"},
		"another body":   {header: signed(ghE2ESecret, "workflow_job", "d-other", done), body: queued, status: 401, code: "signature_invalid"},
		"other labels":   {header: signed(ghE2ESecret, "workflow_job", "d-gpu", foreign), body: foreign, status: 200, code: "ignored", contain: "labels"},
		"other event":    {header: signed(ghE2ESecret, "push", "d-push", queued), body: queued, status: 200, code: "ignored", contain: "workflow_job"},
		"at the limit":   {header: signed(ghE2ESecret, "workflow_job", "d-at", atLimit), body: atLimit, status: 200, code: "ignored", contain: "labels"},
		"past the limit": {header: signed(ghE2ESecret, "workflow_job", "d-past", past), body: past, status: 413, code: "body_too_large"},
		"no capability":  {path: "/hooks/not-a-capability/github", header: signed(ghE2ESecret, "workflow_job", "d-cap", queued), body: queued, status: 401, code: "token_invalid"},
	}, ghE2ESecret)
	// In order: the first completed delivery is taken, its replay refused.
	sendHostile(t, ss, "gh-ci", hooks+"/github", map[string]hostile{
		"completed, unknown job": {header: doneHdr, body: done, status: 200, code: "counted"},
	}, ghE2ESecret)
	sendHostile(t, ss, "gh-ci", hooks+"/github", map[string]hostile{
		"replayed delivery": {header: doneHdr.Clone(), body: done, status: 409, code: "signature_replayed", contain: "d-done"},
	}, ghE2ESecret)
}

// TestSourceBuildkiteHostile: the same for Buildkite's two webhook modes:
// unsigned, forged, stale and replayed signatures, a wrong token, another
// queue's jobs and an oversized body.
func TestSourceBuildkiteHostile(t *testing.T) {
	ss := newSrcStack(t, "embedded")
	signedHook := ss.createPool(t, "bk-signed", "", `{"buildkite":{"webhookSigningSecret":"`+bkE2ESigning+`","queue":"`+bkE2EQueue+`"}}`)
	tokenHook := ss.createPool(t, "bk-token", "", `{"buildkite":{"webhookToken":"`+bkE2EToken+`","queue":"`+bkE2EQueue+`"}}`)
	bk := fakebk.New(bkE2EAgent) // only for its payloads and signatures
	limit, err := server.ParseBodyLimit(ss.cfg.BodyLimit)
	if err != nil {
		t.Fatal(err)
	}
	job := func(event, queue string) []byte {
		b, _ := json.Marshal(bk.JobPayload(event, fakebk.Job{ID: "01890f3e-7c2a-4b8e-9d1f-4a5b6c7d8e9f", Queue: queue, Pipeline: "app", State: "passed"}))
		return b
	}
	hdr := func(mode fakebk.Mode, secret, event string, body []byte, at time.Time) http.Header {
		h := http.Header{}
		fakebk.SignHeaders(h, mode, secret, event, body, at)
		return h
	}
	now := ss.clock.Now()
	sched := job("job.scheduled", bkE2EQueue)
	other := job("job.scheduled", "windows")
	atLimit := padTo(t, job("job.scheduled", "windows"), int(limit))
	past := padTo(t, job("job.scheduled", bkE2EQueue), int(limit)+1)
	unsigned := hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", sched, now)
	unsigned.Del("X-Buildkite-Signature")
	// A job finished before spotter heard of it counts nothing; the same
	// signed delivery again is a replay.
	finished := job("job.finished", bkE2EQueue)
	finishedHdr := hdr(fakebk.Signature, bkE2ESigning, "job.finished", finished, now)

	sendHostile(t, ss, "bk-signed", signedHook+"/buildkite", map[string]hostile{
		"no signature":   {header: unsigned, body: sched, status: 401, code: "signature_invalid", contain: "X-Buildkite-Signature is missing"},
		"wrong secret":   {header: hdr(fakebk.Signature, "not-the-secret", "job.scheduled", sched, now), body: sched, status: 401, code: "signature_invalid"},
		"another body":   {header: hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", other, now), body: sched, status: 401, code: "signature_invalid"},
		"a token":        {header: hdr(fakebk.Token, bkE2ESigning, "job.scheduled", sched, now), body: sched, status: 401, code: "signature_invalid"},
		"other queue":    {header: hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", other, now), body: other, status: 200, code: "ignored", contain: "queue"},
		"at the limit":   {header: hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", atLimit, now), body: atLimit, status: 200, code: "ignored", contain: "queue"},
		"past the limit": {header: hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", past, now), body: past, status: 413, code: "body_too_large"},
		"stale":          {header: hdr(fakebk.Signature, bkE2ESigning, "job.scheduled", sched, now.Add(-6*time.Minute)), body: sched, status: 401, code: "signature_expired", contain: "more than 5m0s"},
	}, bkE2ESigning)
	sendHostile(t, ss, "bk-signed", signedHook+"/buildkite", map[string]hostile{
		"finished, unknown job": {header: finishedHdr, body: finished, status: 200, code: "counted"},
	}, bkE2ESigning)
	sendHostile(t, ss, "bk-signed", signedHook+"/buildkite", map[string]hostile{
		"replayed delivery": {header: finishedHdr.Clone(), body: finished, status: 409, code: "signature_replayed"},
	}, bkE2ESigning)
	sendHostile(t, ss, "bk-token", tokenHook+"/buildkite", map[string]hostile{
		"no token":    {header: hdr(fakebk.Signature, bkE2EToken, "job.scheduled", sched, now), body: sched, status: 401, code: "signature_invalid"},
		"wrong token": {header: hdr(fakebk.Token, "not-the-token", "job.scheduled", sched, now), body: sched, status: 401, code: "signature_invalid"},
		"other queue": {header: hdr(fakebk.Token, bkE2EToken, "job.scheduled", other, now), body: other, status: 200, code: "ignored", contain: "queue"},
	}, bkE2EToken)
}
