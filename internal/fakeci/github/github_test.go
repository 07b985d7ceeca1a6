package github_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
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
	// Secondary limit: 403 with Retry-After while the primary has room.
	s.SetSecondaryLimit(1, 90*time.Second)
	resp, body = call(t, "GET", url, "Bearer "+tok, "")
	if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "90" || resp.Header.Get("X-RateLimit-Remaining") != "59" || !strings.Contains(string(body), "secondary") {
		t.Fatalf("secondary limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := call(t, "GET", url, "Bearer "+tok, ""); resp.StatusCode != 200 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("after the secondary limit: %d", resp.StatusCode)
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

func TestOrgRepos(t *testing.T) {
	s := github.Start(t, tok)
	for _, r := range []string{"octo-org/c", "octo-org/a", "octo-org/b", "someone/else"} {
		s.AddRepo(r)
	}
	var names []string
	next := s.URL + "/orgs/octo-org/repos?per_page=2"
	for next != "" {
		resp, body := call(t, "GET", next, "Bearer "+tok, "")
		var repos []struct {
			FullName string `json:"full_name"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &repos) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		for _, r := range repos {
			names = append(names, r.FullName)
		}
		next = linkRel(resp.Header.Get("Link"))["next"]
	}
	if got := strings.Join(names, " "); got != "octo-org/a octo-org/b octo-org/c" {
		t.Fatalf("org repos %q", got)
	}
	if resp, _ := call(t, "GET", s.URL+"/orgs/nobody/repos", "Bearer "+tok, ""); resp.StatusCode != 404 {
		t.Fatalf("unknown org: %d", resp.StatusCode)
	}
}
