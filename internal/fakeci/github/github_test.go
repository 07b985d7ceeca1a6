package github_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/token"
)

const tok = "ghp_fakeTokenForTests0000000000000000"

func call(t *testing.T, method, url, auth, body string) (*http.Response, []byte) {
	t.Helper()
	return callV(t, method, url, auth, "", body)
}

func callV(t *testing.T, method, url, auth, version, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	if version != "" {
		req.Header.Set("X-GitHub-Api-Version", version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestAuth(t *testing.T) {
	s := github.Start(t, tok)
	s.AddRepo("octo-org/app")
	url := s.URL + "/repos/octo-org/app/actions/runs?status=queued"
	tests := []struct {
		name, auth, version string
		want                int
		msg                 string
	}{
		{name: "bearer", auth: "Bearer " + tok, want: 200},
		{name: "token scheme", auth: "token " + tok, want: 200},
		{name: "missing", auth: "", want: 401, msg: "Requires authentication"},
		{name: "wrong token", auth: "Bearer ghp_other", want: 401, msg: "Bad credentials"},
		{name: "basic scheme", auth: "Basic " + tok, want: 401, msg: "Bad credentials"},
		{name: "token prefix only", auth: "Bearer " + tok[:10], want: 401, msg: "Bad credentials"},
		{name: "documented api version", auth: "Bearer " + tok, version: "2022-11-28", want: 200},
		{name: "unsupported api version", auth: "Bearer " + tok, version: "2019-01-01", want: 410, msg: "X-GitHub-Api-Version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := callV(t, "GET", url, tt.auth, tt.version, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.want, body)
			}
			if tt.msg != "" && !strings.Contains(string(body), tt.msg) {
				t.Fatalf("body %s; want message %q", body, tt.msg)
			}
		})
	}
}

// linkRel parses a Link header into rel -> URL.
func linkRel(h string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`<([^>]+)>; rel="(\w+)"`).FindAllStringSubmatch(h, -1) {
		out[m[2]] = m[1]
	}
	return out
}

func TestQueuedRunsPaginate(t *testing.T) {
	s := github.Start(t, tok)
	var queued []int64
	for i := range 5 {
		j, err := s.QueueJob("octo-org/app", fmt.Sprintf("build-%d", i), "self-hosted", "linux")
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, j.RunID)
	}
	if _, err := s.QueueJob("octo-org/other", "elsewhere", "self-hosted"); err != nil {
		t.Fatal(err)
	}
	started := s.Jobs()[1]
	if _, err := s.StartJob(started.ID, "runner-1"); err != nil {
		t.Fatal(err)
	}
	// Follow rel="next" from the first page, as a client must.
	next := s.URL + "/repos/octo-org/app/actions/runs?status=queued&per_page=2"
	seen := map[int64]bool{}
	pages := 0
	for next != "" {
		resp, body := call(t, "GET", next, "Bearer "+tok, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", next, resp.StatusCode, body)
		}
		var page struct {
			TotalCount int `json:"total_count"`
			Runs       []struct {
				ID         int64   `json:"id"`
				Status     string  `json:"status"`
				Conclusion *string `json:"conclusion"`
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
			} `json:"workflow_runs"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 4 {
			t.Fatalf("total_count %d; want 4 (5 queued, 1 started)", page.TotalCount)
		}
		for _, r := range page.Runs {
			if r.Status != "queued" || r.Conclusion != nil || r.Repository.FullName != "octo-org/app" || seen[r.ID] {
				t.Fatalf("bad or repeated run %+v", r)
			}
			seen[r.ID] = true
		}
		links := linkRel(resp.Header.Get("Link"))
		if pages > 0 && links["prev"] == "" {
			t.Fatalf("page %d has no rel=prev: %q", pages+1, resp.Header.Get("Link"))
		}
		next = links["next"]
		pages++
	}
	if pages != 2 || len(seen) != 4 || seen[started.RunID] {
		t.Fatalf("pages %d, runs %v; want 2 pages with the 4 queued runs", pages, seen)
	}
	for _, id := range queued {
		if id != started.RunID && !seen[id] {
			t.Fatalf("queued run %d missing", id)
		}
	}
}

func TestJobsOfRun(t *testing.T) {
	s := github.Start(t, tok)
	j, err := s.QueueJob("octo-org/app", "test", "self-hosted", "gpu")
	if err != nil {
		t.Fatal(err)
	}
	get := func() map[string]any {
		resp, body := call(t, "GET", fmt.Sprintf("%s/repos/octo-org/app/actions/runs/%d/jobs", s.URL, j.RunID), "token "+tok, "")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var out struct {
			TotalCount int              `json:"total_count"`
			Jobs       []map[string]any `json:"jobs"`
		}
		if err := json.Unmarshal(body, &out); err != nil || out.TotalCount != 1 || len(out.Jobs) != 1 {
			t.Fatalf("jobs %s (%v)", body, err)
		}
		return out.Jobs[0]
	}
	q := get()
	if q["status"] != "queued" || q["runner_name"] != nil || q["conclusion"] != nil || fmt.Sprint(q["labels"]) != "[self-hosted gpu]" {
		t.Fatalf("queued job %v", q)
	}
	if _, err := s.StartJob(j.ID, "spot-i-0abc"); err != nil {
		t.Fatal(err)
	}
	if r := get(); r["status"] != "in_progress" || r["runner_name"] != "spot-i-0abc" {
		t.Fatalf("running job %v", r)
	}
	resp, _ := call(t, "GET", fmt.Sprintf("%s/repos/octo-org/app/actions/jobs/%d", s.URL, j.ID), "Bearer "+tok, "")
	if resp.StatusCode != 200 {
		t.Fatalf("single job: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", s.URL+"/repos/octo-org/app/actions/jobs/1", "Bearer "+tok, ""); resp.StatusCode != 404 {
		t.Fatalf("unknown job: %d; want 404", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	s := github.Start(t, tok)
	s.AddRepo("o/r")
	reset := time.Unix(1893456000, 0)
	s.SetRateLimit(60, 1, reset)
	url := s.URL + "/repos/o/r/actions/runs"
	resp, _ := call(t, "GET", url, "Bearer "+tok, "")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Used") != "60" ||
		h.Get("X-RateLimit-Limit") != "60" || h.Get("X-RateLimit-Reset") != "1893456000" || h.Get("X-RateLimit-Resource") != "core" {
		t.Fatalf("last allowed call: %d %v", resp.StatusCode, h)
	}
	resp, body := call(t, "GET", url, "Bearer "+tok, "")
	if resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(string(body), "rate limit") {
		t.Fatalf("one past the limit: %d %s", resp.StatusCode, body)
	}
	s.SetRateLimit(60, 60, reset)
	if resp, _ := call(t, "GET", url, "Bearer "+tok, ""); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "59" {
		t.Fatalf("after reset: %d %v", resp.StatusCode, resp.Header)
	}
	if s.Calls() != 2 {
		t.Fatalf("calls %d; want 2 (the refused one does not count)", s.Calls())
	}
}

func labels(n int) string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("%q", fmt.Sprintf("l%d", i))
	}
	return "[" + strings.Join(l, ",") + "]"
}

func TestGenerateJITConfig(t *testing.T) {
	s := github.Start(t, tok)
	s.AddRepo("octo-org/app")
	repoURL := s.URL + "/repos/octo-org/app/actions/runners/generate-jitconfig"
	orgURL := s.URL + "/orgs/octo-org/actions/runners/generate-jitconfig"
	tests := []struct {
		name, url, body string
		want            int
	}{
		{name: "repo", url: repoURL, body: `{"name":"r1","runner_group_id":1,"labels":["self-hosted","linux"]}`, want: 201},
		{name: "org", url: orgURL, body: `{"name":"r2","runner_group_id":3,"labels":["gpu"],"work_folder":"_w"}`, want: 201},
		{name: "100 labels", url: orgURL, body: `{"name":"r3","runner_group_id":1,"labels":` + labels(100) + `}`, want: 201},
		{name: "101 labels", url: orgURL, body: `{"name":"r4","runner_group_id":1,"labels":` + labels(101) + `}`, want: 422},
		{name: "no labels", url: orgURL, body: `{"name":"r5","runner_group_id":1,"labels":[]}`, want: 422},
		{name: "no group", url: orgURL, body: `{"name":"r6","labels":["x"]}`, want: 422},
		{name: "no name", url: orgURL, body: `{"runner_group_id":1,"labels":["x"]}`, want: 422},
		{name: "name taken", url: repoURL, body: `{"name":"r1","runner_group_id":1,"labels":["x"]}`, want: 409},
		{name: "bad json", url: repoURL, body: `{"name":`, want: 400},
		{name: "unknown repo", url: s.URL + "/repos/octo-org/nope/actions/runners/generate-jitconfig", body: `{"name":"r7","runner_group_id":1,"labels":["x"]}`, want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := call(t, "POST", tt.url, "Bearer "+tok, tt.body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.want, body)
			}
			if tt.want != 201 {
				return
			}
			var out struct {
				Runner struct {
					ID   int64  `json:"id"`
					Name string `json:"name"`
				} `json:"runner"`
				Encoded string `json:"encoded_jit_config"`
			}
			if err := json.Unmarshal(body, &out); err != nil || out.Runner.ID == 0 {
				t.Fatalf("%s (%v)", body, err)
			}
			// The runner decodes base64 -> JSON {file: base64(content)}.
			raw, err := base64.StdEncoding.DecodeString(out.Encoded)
			var files map[string]string
			if err != nil || json.Unmarshal(raw, &files) != nil || files[".runner"] == "" {
				t.Fatalf("encoded_jit_config does not decode as the runner reads it: %q", raw)
			}
		})
	}
	reqs := s.JITRequests()
	if len(reqs) != 3 || reqs[0].Scope != "repos/octo-org/app" || reqs[1].Scope != "orgs/octo-org" || reqs[1].RunnerGroupID != 3 {
		t.Fatalf("recorded %+v", reqs)
	}
}

// receiver verifies deliveries with spotter's own verifier.
type receiver struct {
	mu     sync.Mutex
	secret string
	got    []map[string]any
	ids    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := token.VerifyGitHub([]byte(rc.secret), r.Header.Get("X-Hub-Signature-256"), body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.Header.Get("X-GitHub-Event") != "workflow_job" || !strings.HasPrefix(r.Header.Get("User-Agent"), "GitHub-Hookshot/") {
		http.Error(w, "headers", http.StatusBadRequest)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "json", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, p)
	rc.ids = append(rc.ids, r.Header.Get("X-GitHub-Delivery"))
	rc.mu.Unlock()
}

func TestWebhookRoundTrip(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	rc := &receiver{secret: secret}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := github.Start(t, tok)
	s.SetWebhook(hook.URL, secret)

	j, err := s.QueueJob("octo-org/app", "build", "self-hosted", "linux")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartJob(j.ID, "spot-i-0abc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishJob(j.ID, "success"); err != nil {
		t.Fatal(err)
	}
	if len(rc.got) != 3 {
		t.Fatalf("received %d deliveries; want 3", len(rc.got))
	}
	// Required keys per octokit/webhooks workflow_job schemas.
	required := []string{"id", "run_id", "run_url", "run_attempt", "node_id", "head_sha", "url", "html_url", "status",
		"conclusion", "started_at", "completed_at", "created_at", "name", "steps", "check_run_url", "labels",
		"runner_id", "runner_name", "runner_group_id", "runner_group_name", "workflow_name", "head_branch"}
	for i, want := range []struct{ action, runner, conclusion any }{
		{"queued", nil, nil}, {"in_progress", "spot-i-0abc", nil}, {"completed", "spot-i-0abc", "success"},
	} {
		p := rc.got[i]
		wj, _ := p["workflow_job"].(map[string]any)
		for _, k := range required {
			if _, ok := wj[k]; !ok {
				t.Fatalf("%s: workflow_job lacks %q", want.action, k)
			}
		}
		repo, _ := p["repository"].(map[string]any)
		if p["action"] != want.action || wj["status"] != want.action || wj["runner_name"] != want.runner ||
			wj["conclusion"] != want.conclusion || repo["full_name"] != "octo-org/app" || p["sender"] == nil {
			t.Fatalf("delivery %d: %v", i, p)
		}
	}
	// A redelivery repeats X-GitHub-Delivery, the idempotency key.
	first := s.Deliveries()[0]
	if _, err := s.Redeliver(first.ID); err != nil {
		t.Fatal(err)
	}
	if len(rc.ids) != 4 || rc.ids[3] != rc.ids[0] || rc.ids[1] == rc.ids[0] {
		t.Fatalf("delivery ids %v", rc.ids)
	}
	// A receiver with another secret refuses, and the sender reports it.
	rc.secret = "another secret"
	if _, err := s.QueueJob("octo-org/app", "build2", "self-hosted"); err == nil {
		t.Fatal("delivery under the wrong secret was accepted")
	}
	if d := s.Deliveries(); d[len(d)-1].Status != http.StatusUnauthorized {
		t.Fatalf("last delivery status %d; want 401", d[len(d)-1].Status)
	}
}

// The sender signs as GitHub documents: its published example vector.
func TestSignRequestPublishedVector(t *testing.T) {
	req := httptest.NewRequest("POST", "/hook", nil)
	github.SignRequest(req, "It's a Secret to Everybody", "ping", "d1", []byte("Hello, World!"))
	if got := req.Header.Get("X-Hub-Signature-256"); got != "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17" {
		t.Fatalf("signature %q", got)
	}
	req = httptest.NewRequest("POST", "/hook", nil)
	github.SignRequest(req, "", "ping", "d1", []byte("Hello, World!"))
	if _, ok := req.Header["X-Hub-Signature-256"]; ok {
		t.Fatal("no secret must mean no signature header")
	}
}
