package taskcluster_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
)

const (
	queue  = "proj-spot/linux-large"
	client = "project/spot/scaler"
	secret = "fakeAccessToken-0123456789abcdefghijk"
)

type caller struct {
	t    *testing.T
	s    *taskcluster.Server
	now  time.Time
	sign bool
	key  string
}

func (c caller) get(path string) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.s.RootURL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.sign {
		taskcluster.SignHawk(req, client, c.key, c.now, "n0nce")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatalf("%s: not JSON: %s", path, b)
	}
	return resp.StatusCode, out
}

func TestPendingAuth(t *testing.T) {
	at := time.Unix(1764547200, 0)
	s := taskcluster.Start(t)
	s.SetClock(func() time.Time { return at })
	s.AddClient(client, secret, "queue:pending-count:proj-spot/*", "queue:claimed-count:"+queue)
	s.AddClient("other", "other-token")
	tests := []struct {
		name      string
		sign      bool
		key       string
		skew      time.Duration
		anonymous bool
		path      string
		want      int
		code      string
	}{
		{name: "hawk", sign: true, key: secret, want: 200},
		{name: "hawk at skew limit", sign: true, key: secret, skew: 60 * time.Second, want: 200},
		{name: "hawk one past skew", sign: true, key: secret, skew: 61 * time.Second, want: 401, code: "AuthenticationFailed"},
		{name: "hawk at skew limit early", sign: true, key: secret, skew: -60 * time.Second, want: 200},
		{name: "hawk one past early", sign: true, key: secret, skew: -61 * time.Second, want: 401, code: "AuthenticationFailed"},
		{name: "wrong access token", sign: true, key: "not-the-token", want: 401, code: "AuthenticationFailed"},
		{name: "anonymous, private deployment", want: 403, code: "InsufficientScopes"},
		{name: "anonymous, public deployment", anonymous: true, want: 200},
		{name: "escaped slash", sign: true, key: secret, path: "/api/queue/v1/pending/proj-spot%2Flinux-large", want: 200},
		{name: "bad queue id", sign: true, key: secret, path: "/api/queue/v1/pending/proj-spot/Linux", want: 400, code: "InvalidRequestArguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.anonymous {
				s.SetAnonymousScopes("queue:pending-count:*")
				defer s.SetAnonymousScopes()
			}
			path := tt.path
			if path == "" {
				path = "/api/queue/v1/pending/" + queue
			}
			code, body := caller{t: t, s: s, now: at.Add(tt.skew), sign: tt.sign, key: tt.key}.get(path)
			if code != tt.want || (tt.code != "" && body["code"] != tt.code) {
				t.Fatalf("status %d %v; want %d %s", code, body, tt.want, tt.code)
			}
			if code == 200 && (body["taskQueueId"] != queue || body["provisionerId"] != "proj-spot" || body["workerType"] != "linux-large" || body["pendingTasks"] != 0.0) {
				t.Fatalf("body %v", body)
			}
			if msg, _ := body["message"].(string); strings.Contains(msg, secret) {
				t.Fatal("error leaks the access token")
			}
		})
	}
}

func TestCountsFollowTasks(t *testing.T) {
	at := time.Now()
	s := taskcluster.Start(t)
	s.AddClient(client, secret, "queue:pending-count:"+queue, "queue:claimed-count:"+queue, "worker-manager:list-workers:"+queue)
	s.AddClient("pending-only", "po-token", "queue:pending-count:"+queue)
	c := caller{t: t, s: s, now: at, sign: true, key: secret}
	counts := func() (float64, float64) {
		code, b := c.get("/api/queue/v1/task-queues/" + queue + "/counts")
		if code != 200 || b["taskQueueId"] != queue {
			t.Fatalf("counts %d %v", code, b)
		}
		return b["pendingTasks"].(float64), b["claimedTasks"].(float64)
	}
	for range 3 {
		if _, err := s.CreateTask(queue); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateTask("proj-spot/other"); err != nil {
		t.Fatal(err)
	}
	if p, cl := counts(); p != 3 || cl != 0 {
		t.Fatalf("pending %v claimed %v; want 3 0", p, cl)
	}
	task, err := s.ClaimTask(queue, "us-east-1", "i-0abc")
	if err != nil {
		t.Fatal(err)
	}
	if p, cl := counts(); p != 2 || cl != 1 {
		t.Fatalf("pending %v claimed %v; want 2 1", p, cl)
	}
	if err := s.ResolveTask(task); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveTask(task); err == nil {
		t.Fatal("resolved twice")
	}
	if p, cl := counts(); p != 2 || cl != 0 {
		t.Fatalf("pending %v claimed %v; want 2 0", p, cl)
	}
	// counts needs claimed-count as well as pending-count.
	req, _ := http.NewRequest("GET", s.RootURL+"/api/queue/v1/task-queues/"+queue+"/counts", nil)
	taskcluster.SignHawk(req, "pending-only", "po-token", at, "n1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("pending-only client got %d on counts; want 403", resp.StatusCode)
	}
}

func TestListWorkers(t *testing.T) {
	s := taskcluster.Start(t)
	s.AddClient(client, secret, "worker-manager:list-workers:proj-spot/*")
	c := caller{t: t, s: s, now: time.Now(), sign: true, key: secret}
	task, err := s.CreateTask(queue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTask(queue, "us-east-1", "i-0aaa"); err != nil {
		t.Fatal(err)
	}
	s.SetWorker(queue, "us-east-1", "i-0bbb", "requested")
	s.SetWorker(queue, "us-east-1", "i-0ccc", "running")
	s.SetWorker("proj-spot/other", "us-east-1", "i-0ddd", "running")
	// follow pages of a listing, returning workerId -> entry.
	follow := func(first string) map[string]map[string]any {
		got := map[string]map[string]any{}
		next := first
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			code, b := c.get(next)
			if code != 200 {
				t.Fatalf("%s: %d %v", next, code, b)
			}
			for _, w := range b["workers"].([]any) {
				m := w.(map[string]any)
				if m["workerPoolId"] != queue || m["workerGroup"] != "us-east-1" {
					t.Fatalf("worker %v", m)
				}
				got[m["workerId"].(string)] = m
			}
			next = ""
			if tok, ok := b["continuationToken"].(string); ok {
				sep := "?"
				if strings.Contains(first, "?") {
					sep = "&"
				}
				next = first + sep + "continuationToken=" + tok
			}
		}
		return got
	}
	all := follow("/api/worker-manager/v1/workers/" + queue + "?limit=1")
	if len(all) != 3 || all["i-0bbb"]["state"] != "requested" || all["i-0aaa"]["expires"] == nil {
		t.Fatalf("pool workers %v", all)
	}
	running := follow("/api/worker-manager/v1/provisioners/proj-spot/worker-types/linux-large/workers?workerState=running&limit=1")
	if len(running) != 2 || running["i-0aaa"] == nil || running["i-0ccc"] == nil {
		t.Fatalf("running workers %v", running)
	}
	if lt, _ := running["i-0aaa"]["latestTask"].(map[string]any); lt["taskId"] != task || running["i-0aaa"]["firstClaim"] == nil || running["i-0ccc"]["latestTask"] != nil {
		t.Fatalf("claim view %v", running)
	}
	tests := []struct {
		name, path string
		c          caller
		want       int
		code       string
	}{
		{name: "unknown pool", path: "/api/worker-manager/v1/workers/proj-spot/nobody", c: c, want: 404, code: "ResourceNotFound"},
		{name: "bad state", path: "/api/worker-manager/v1/provisioners/proj-spot/worker-types/linux-large/workers?workerState=busy", c: c, want: 400, code: "InvalidRequestArguments"},
		{name: "anonymous", path: "/api/worker-manager/v1/workers/" + queue, c: caller{t: t, s: s, now: time.Now()}, want: 403, code: "InsufficientScopes"},
		{name: "scope for another pool", path: "/api/worker-manager/v1/workers/other-prov/linux", c: c, want: 403, code: "InsufficientScopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, b := tt.c.get(tt.path); code != tt.want || b["code"] != tt.code {
				t.Fatalf("%d %v; want %d %s", code, b, tt.want, tt.code)
			}
		})
	}
}
