package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	fakebk "github.com/spotter-dev/spotter/internal/fakeci/buildkite"
	fakegh "github.com/spotter-dev/spotter/internal/fakeci/github"
	faketc "github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
	"github.com/spotter-dev/spotter/sources"
	"github.com/spotter-dev/spotter/sources/github"
)

// TestGitHubReconcileRepairsLostDeliveries: with every delivery lost, a
// poll finds the queued jobs through the REST API (across pages), the
// started ones, and the finished ones by job look-up.
func TestGitHubReconcileRepairsLostDeliveries(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		ss.gh.SetWebhook("http://127.0.0.1:1/lost", ghSecretCanary) // nothing arrives
		const n = 130                                               // past one page of 100 runs
		for i := range n {
			if _, err := ss.gh.QueueJob("octo/app", fmt.Sprint("job", i), "self-hosted", "linux"); err == nil {
				t.Fatal("a delivery to a closed port succeeded")
			}
		}
		for range 5 {
			_, _ = ss.gh.QueueJob("octo/app", "win", "windows")
		}
		if err := ss.poll(t); err != nil {
			t.Fatal(err)
		}
		if got := ss.demand(t); got != [2]int{n, 0} {
			t.Fatalf("after the first poll: demand %v; want [%d 0]", got, n)
		}
		jobs := ss.gh.Jobs()
		for _, j := range jobs[:3] {
			_, _ = ss.gh.StartJob(j.ID, "i-"+fmt.Sprint(j.ID))
		}
		for _, j := range jobs[:2] {
			_, _ = ss.gh.FinishJob(j.ID, "success")
		}
		_, _ = ss.gh.FinishJob(jobs[10].ID, "cancelled")
		if err := ss.poll(t); err != nil {
			t.Fatal(err)
		}
		if got := ss.demand(t); got != [2]int{n - 4, 1} {
			t.Fatalf("after the second poll: demand %v; want [%d 1]", got, n-4)
		}
	})
}

// TestGitHubReconcileRateLimits: a primary or secondary limit stops the
// pass, keeps the demand, and backs the pool off: the next poll makes no
// call.
func TestGitHubReconcileRateLimits(t *testing.T) {
	tests := map[string]func(gh *fakegh.Server){
		"primary":   func(gh *fakegh.Server) { gh.SetRateLimit(5000, 0, time.Now().Add(time.Hour)) },
		"secondary": func(gh *fakegh.Server) { gh.SetSecondaryLimit(1, time.Minute) },
		// The first answer leaves 100, GitHubFloor: the pass stops there.
		"at the floor": func(gh *fakegh.Server) { gh.SetRateLimit(5000, 101, time.Now().Add(time.Hour)) },
	}
	for name, limit := range tests {
		t.Run(name, func(t *testing.T) {
			ss := newSourcesServer(t, "embedded")
			for range 2 {
				if _, err := ss.gh.QueueJob("octo/app", "build", "linux"); err != nil {
					t.Fatal(err)
				}
			}
			before := ss.demand(t)
			limit(ss.gh)
			calls := ss.gh.Calls()
			err := ss.poll(t)
			var rl *github.RateLimited
			if !errors.As(err, &rl) || !rl.Until.After(time.Now()) {
				t.Fatalf("poll = %v; want a rate limit in the future", err)
			}
			if got := ss.demand(t); got != before {
				t.Fatalf("demand %v; want %v", got, before)
			}
			made := ss.gh.Calls()
			if err := ss.poll(t); err != nil {
				t.Fatalf("the poll in backoff = %v; want it quiet", err)
			}
			if ss.gh.Calls() != made || made-calls > 1 {
				t.Fatalf("calls %d → %d → %d: the pass went on past the limit or the backoff called again", calls, made, ss.gh.Calls())
			}
		})
	}
}

// TestBuildkitePollerCountsQueue: the agent metrics API's counts for the
// pool's queue become its demand; other queues do not; a wrong agent
// token is an error that keeps the last counts.
func TestBuildkitePollerCountsQueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		bk := fakebk.Start(t, "bkua_AGENTCANARY")
		bk.PollSeconds = 10
		ss.patch(t, `{"github": null, "buildkite": {"agentToken": "bkua_AGENTCANARY", "queue": "linux", "metricsUrl": "`+bk.URL+`"}}`)
		bk.AddAgent("linux", "a1")
		bk.AddAgent("linux", "a2")
		bk.AddAgent("macos", "m1")
		for _, q := range []string{"linux", "linux", "linux", "macos"} {
			if _, err := bk.ScheduleJob(q, "app"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := bk.StartJob(bk.Jobs()[0].ID, "a1"); err != nil {
			t.Fatal(err)
		}
		if err := ss.poll(t); err != nil {
			t.Fatal(err)
		}
		if got := ss.demand3(t); got != [3]int{2, 1, 1} {
			t.Fatalf("demand %v; want [2 1 1]", got)
		}
		polledAt := ss.demandAt(t)
		bk.AgentToken = "rotated"
		err := ss.poll(t)
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "AGENTCANARY") {
			t.Fatalf("poll with a stale token = %v", err)
		}
		if got := ss.demand3(t); got != [3]int{2, 1, 1} {
			t.Fatalf("demand %v after a failed poll; want the last counts", got)
		}
		if at := ss.demandAt(t); !at.Equal(polledAt) {
			t.Fatalf("a failed poll moved the demand's time from %s to %s: stale counts would look fresh", polledAt, at)
		}
		if strings.Contains(ss.logs.String(), "AGENTCANARY") || strings.Contains(ss.storeText(t), "AGENTCANARY") {
			t.Fatal("the agent token is in the logs or the store")
		}
	})
}

// TestTaskclusterPollerCounts: pending from the queue, claimed from
// taskQueueCounts, idle from worker-manager's running workers, with Hawk;
// a client without the claimed-count scope still gets pending.
func TestTaskclusterPollerCounts(t *testing.T) {
	const q = "proj-ci/linux"
	tests := map[string]struct {
		scopes []string
		want   [3]int
	}{
		"all scopes": {[]string{"queue:pending-count:" + q, "queue:claimed-count:" + q, "worker-manager:list-workers:" + q}, [3]int{2, 1, 1}},
		"no workers": {[]string{"queue:pending-count:" + q, "queue:claimed-count:" + q}, [3]int{2, 1, 0}},
		"pending":    {[]string{"queue:pending-count:*"}, [3]int{2, 0, 0}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ss := newSourcesServer(t, "embedded")
			tc := faketc.Start(t)
			tc.AddClient("project/ci/spotter", "tc-ACCESSCANARY", tt.scopes...)
			for range 3 {
				if _, err := tc.CreateTask(q); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tc.ClaimTask(q, "us-east-1", "i-0aaa"); err != nil {
				t.Fatal(err)
			}
			tc.SetWorker(q, "us-east-1", "i-0bbb", "running")
			tc.SetWorker(q, "us-east-1", "i-0ccc", "stopped")
			ss.patch(t, `{"github": null, "taskcluster": {"rootUrl": "`+tc.RootURL+`", "taskQueueId": "`+q+`",
				"clientId": "project/ci/spotter", "accessToken": "tc-ACCESSCANARY"}}`)
			if err := ss.poll(t); err != nil {
				t.Fatal(err)
			}
			if got := ss.demand3(t); got != tt.want {
				t.Fatalf("demand %v; want %v", got, tt.want)
			}
		})
	}
	t.Run("wrong access token", func(t *testing.T) {
		ss := newSourcesServer(t, "embedded")
		tc := faketc.Start(t)
		tc.AddClient("project/ci/spotter", "the-right-one", "queue:pending-count:*")
		ss.patch(t, `{"github": null, "taskcluster": {"rootUrl": "`+tc.RootURL+`", "taskQueueId": "`+q+`",
			"clientId": "project/ci/spotter", "accessToken": "a-wrong-one"}}`)
		if err := ss.poll(t); err == nil || !strings.Contains(err.Error(), fmt.Sprint(http.StatusUnauthorized)) {
			t.Fatalf("poll = %v; want a 401", err)
		}
	})
}

// TestSweepRemovesGonePoolsRecords: once a deleted pool's record is
// removed, a pass removes its sources and jobs; a live pool keeps its own.
func TestSweepRemovesGonePoolsRecords(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		if _, err := ss.gh.QueueJob("octo/app", "build", "linux"); err != nil {
			t.Fatal(err)
		}
		ss.create(t, "other")
		if r := ss.call(t, "PATCH", "/v1/pools/other/sources", `{"github": {"webhookSecret": "x"}}`, poolAdmin); r.status != 200 {
			t.Fatalf("PATCH = %d %s", r.status, r.raw)
		}
		keys := func() []string {
			var all []string
			for _, p := range []string{sources.ConfigPrefix, sources.TrackerPrefix} {
				ks, err := ss.st.List(context.Background(), p)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, ks...)
			}
			return all
		}
		if got := strings.Join(keys(), " "); got != "poolsources/linux-ci poolsources/other pooljobs/linux-ci" {
			t.Fatalf("keys before: %s", got)
		}
		if r := ss.call(t, "DELETE", "/v1/pools/linux-ci", "", poolAdmin); r.status != 202 {
			t.Fatalf("DELETE = %d", r.status)
		}
		ss.src.PollAll(context.Background()) // polls "other": its job record appears
		if got := strings.Join(keys(), " "); got != "poolsources/linux-ci poolsources/other pooljobs/linux-ci pooljobs/other" {
			t.Fatalf("a deleting pool's records went before the pool, or other was not polled: %s", got)
		}
		if err := forceRemove(ss.poolServer, "linux-ci"); err != nil {
			t.Fatal(err)
		}
		ss.src.PollAll(context.Background())
		if got := strings.Join(keys(), " "); got != "poolsources/other pooljobs/other" {
			t.Fatalf("keys after: %s", got)
		}
	})
}

// TestGitHubReconcileAsApp: with GitHub App credentials instead of a
// token, the reconcile buys an installation token (RS256 App JWT) that
// the fake checks, and the key is in no reply, log or stored byte.
func TestGitHubReconcileAsApp(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
		ss.gh.SetApp(123456, &key.PublicKey, 987654)
		keyJSON, _ := json.Marshal(pemKey)
		r := ss.call(t, "PATCH", "/v1/pools/linux-ci/sources", `{"github": {"token": null, "appId": 123456, "installationId": 987654, "privateKey": `+string(keyJSON)+`}}`, poolAdmin)
		if r.status != 200 || !strings.Contains(r.raw, `"privateKeySet":true`) || !strings.Contains(r.raw, `"tokenSet":false`) {
			t.Fatalf("PATCH = %d %s", r.status, r.raw)
		}
		ss.gh.SetWebhook("http://127.0.0.1:1/lost", ghSecretCanary)
		for range 3 {
			_, _ = ss.gh.QueueJob("octo/app", "build", "linux")
		}
		for range 2 {
			if err := ss.poll(t); err != nil {
				t.Fatal(err)
			}
		}
		if got := ss.demand(t); got != [2]int{3, 0} {
			t.Fatalf("demand %v; want [3 0]", got)
		}
		body := strings.Split(pemKey, "\n")[3] // a line of the key's base64
		for where, text := range map[string]string{"logs": ss.logs.String(), "store": ss.storeText(t), "reply": r.raw} {
			if strings.Contains(text, body) {
				t.Errorf("%s holds the App's private key", where)
			}
		}
		bad := ss.call(t, "PATCH", "/v1/pools/linux-ci/sources", `{"github": {"privateKey": "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n"}}`, poolAdmin)
		if bad.status != 400 || !strings.HasPrefix(bad.body["details"].(string), "sources.github.privateKey:") {
			t.Fatalf("a bad key = %d %s", bad.status, bad.raw)
		}
	})
}
