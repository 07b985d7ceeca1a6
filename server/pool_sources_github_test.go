package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	fakegh "github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/sources"
)

// TestGitHubSourceDrivesDemand: the fake's signed workflow_job deliveries
// move the stored demand job by job; another label set is ignored; a
// redelivery and a late event change nothing.
func TestGitHubSourceDrivesDemand(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		steps := []struct {
			name string
			do   func() error
			want [2]int
		}{
			{"queued a", func() error { _, err := ss.gh.QueueJob("octo/app", "build", "self-hosted", "linux"); return err }, [2]int{1, 0}},
			{"queued b", func() error { _, err := ss.gh.QueueJob("octo/app", "test", "Linux"); return err }, [2]int{2, 0}},
			{"other labels", func() error { _, err := ss.gh.QueueJob("octo/app", "win", "self-hosted", "windows"); return err }, [2]int{2, 0}},
			{"a runs", func() error { _, err := ss.gh.StartJob(ss.gh.Jobs()[0].ID, "i-0abc"); return err }, [2]int{1, 1}},
			{"a done", func() error { _, err := ss.gh.FinishJob(ss.gh.Jobs()[0].ID, "success"); return err }, [2]int{1, 0}},
			{"b cancelled while queued", func() error { _, err := ss.gh.FinishJob(ss.gh.Jobs()[1].ID, "cancelled"); return err }, [2]int{0, 0}},
		}
		for _, st := range steps {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := ss.demand(t); got != st.want {
				t.Fatalf("%s: demand %v; want %v", st.name, got, st.want)
			}
		}
		// Each delivery that moved a job asked for a reconciler pass: the
		// five of the pool's labels (the sixth was another's and ignored).
		if n := ss.notified.Load(); n != 5 {
			t.Fatalf("%d reconciler wake-ups; want 5", n)
		}
		ds := ss.gh.Deliveries()
		if len(ds) != 6 {
			t.Fatalf("%d deliveries; want 6", len(ds))
		}
		other := ds[2]
		var body map[string]any
		_ = json.Unmarshal(other.Body, &body)
		// Redelivering the first queued: refused as a replay, demand stays.
		d, err := ss.gh.Redeliver(ds[0].ID)
		if err != nil || d.Status != http.StatusConflict {
			t.Fatalf("redelivery = %d %v; want 409", d.Status, err)
		}
		if got := ss.demand(t); got != [2]int{0, 0} {
			t.Fatalf("after redelivery: demand %v", got)
		}
		// The same queued body under a new delivery id: a late state of a
		// job that is done, taken but unchanged.
		r := ss.deliver(t, "workflow_job", "late-1", ghSecretCanary, ds[0].Body)
		if r.status != 200 || r.body["outcome"] != sources.Unchanged {
			t.Fatalf("late queued = %d %s", r.status, r.raw)
		}
		if got := ss.demand(t); got != [2]int{0, 0} {
			t.Fatalf("after a late queued: demand %v", got)
		}
	})
}

// deliver posts a hand-made delivery to the pool's github hook.
func (ss *sourcesServer) deliver(t *testing.T, event, id, secret string, body []byte, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest("POST", ss.srv.URL+"/hooks/"+ss.cap+"/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	fakegh.SignRequest(req, secret, event, id, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: buf.String()}
	if err := json.Unmarshal(buf.Bytes(), &r.body); err != nil {
		t.Fatalf("reply %d %q is not JSON", resp.StatusCode, buf.String())
	}
	return r
}

// TestGitHubHookHostile: every hostile delivery gets a clear 4xx (or the
// 200 "ignored" GitHub needs for what is merely not the pool's) and the
// demand stays as it was.
func TestGitHubHookHostile(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		job, err := ss.gh.QueueJob("octo/app", "build", "self-hosted", "linux")
		if err != nil {
			t.Fatal(err)
		}
		before := ss.demand(t)
		if before != [2]int{1, 0} {
			t.Fatalf("demand %v after one queued job", before)
		}
		started := job
		started.Status, started.RunnerName, started.RunnerID = "in_progress", "i-0abc", 7
		good, _ := json.Marshal(ss.gh.WorkflowJobPayload("in_progress", started))
		dup := append([]byte(`{"action": "completed", `), good[1:]...)
		big := append(append([]byte(`{"pad": "`), bytes.Repeat([]byte("x"), 64<<10)...), good[1:]...)
		tests := map[string]struct {
			event, id, secret string
			body              []byte
			hdr               []string
			path              string
			status            int
			code, outcome     string
		}{
			"wrong secret":        {event: "workflow_job", id: "h-1", secret: "not-the-secret", body: good, status: 401, code: "signature_invalid"},
			"no signature":        {event: "workflow_job", id: "h-2", body: good, status: 401, code: "signature_invalid"},
			"signature of other":  {event: "workflow_job", id: "h-3", secret: ghSecretCanary, body: good, hdr: []string{"X-Hub-Signature-256", "sha256=" + strings.Repeat("0", 64)}, status: 401, code: "signature_invalid"},
			"sha1 only":           {event: "workflow_job", id: "h-4", body: good, hdr: []string{"X-Hub-Signature", "sha1=" + strings.Repeat("a", 40)}, status: 401, code: "signature_invalid"},
			"no delivery id":      {event: "workflow_job", id: "", secret: ghSecretCanary, body: good, status: 400, code: "invalid_request"},
			"hostile delivery id": {event: "workflow_job", id: "../../x", secret: ghSecretCanary, body: good, status: 400, code: "invalid_request"},
			"duplicate keys":      {event: "workflow_job", id: "h-5", secret: ghSecretCanary, body: dup, status: 400, code: "invalid_request"},
			"oversized":           {event: "workflow_job", id: "h-6", secret: ghSecretCanary, body: big, status: 413, code: "body_too_large"},
			"form content type":   {event: "workflow_job", id: "h-7", secret: ghSecretCanary, body: good, hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 415, code: "unsupported_media_type"},
			"not json":            {event: "workflow_job", id: "h-8", secret: ghSecretCanary, body: []byte(`{"action": "queued", `), status: 400, code: "invalid_request"},
			"no workflow_job":     {event: "workflow_job", id: "h-9", secret: ghSecretCanary, body: []byte(`{"action": "queued", "repository": {"full_name": "octo/app"}}`), status: 400, code: "invalid_request"},
			"other event":         {event: "push", id: "h-10", secret: ghSecretCanary, body: good, status: 200, outcome: sources.Ignored},
			"ping":                {event: "ping", id: "h-11", secret: ghSecretCanary, body: []byte(`{"zen": "Design for failure.", "hook_id": 1, "hook": {}}`), status: 200, outcome: sources.Ignored},
			"waiting action":      {event: "workflow_job", id: "h-12", secret: ghSecretCanary, body: bytes.Replace(good, []byte(`"in_progress"`), []byte(`"waiting"`), 1), status: 200, outcome: sources.Ignored},
			"bad capability":      {event: "workflow_job", id: "h-13", secret: ghSecretCanary, body: good, path: "/hooks/not.a.token/github", status: 401, code: "token_invalid"},
		}
		for name, tt := range tests {
			t.Run(name, func(t *testing.T) {
				var r reply
				if tt.path != "" {
					req := httptest.NewRequest("POST", tt.path, bytes.NewReader(tt.body))
					fakegh.SignRequest(req, tt.secret, tt.event, tt.id, tt.body)
					rec := httptest.NewRecorder()
					ss.e.ServeHTTP(rec, req)
					r = reply{status: rec.Code, raw: rec.Body.String()}
					_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
				} else {
					r = ss.deliver(t, tt.event, tt.id, tt.secret, tt.body, tt.hdr...)
				}
				if r.status != tt.status {
					t.Fatalf("= %d %s; want %d", r.status, r.raw, tt.status)
				}
				if tt.code != "" && r.body["error"] != tt.code {
					t.Fatalf("error %v; want %s (%s)", r.body["error"], tt.code, r.raw)
				}
				if tt.code != "" && r.body["details"] == "" {
					t.Fatalf("no details: %s", r.raw)
				}
				if tt.outcome != "" && r.body["outcome"] != tt.outcome {
					t.Fatalf("outcome %v; want %s", r.body["outcome"], tt.outcome)
				}
				if got := ss.demand(t); got != before {
					t.Fatalf("demand %v; want it unchanged at %v", got, before)
				}
			})
		}
		// The good body, signed, then counts: the cases above were refused
		// for what they were, not because the body was wrong.
		if r := ss.deliver(t, "workflow_job", "h-ok", ghSecretCanary, good); r.status != 200 || r.body["outcome"] != sources.Counted {
			t.Fatalf("good delivery = %d %s", r.status, r.raw)
		}
		if got := ss.demand(t); got != [2]int{0, 1} {
			t.Fatalf("demand %v after the job started; want [0 1]", got)
		}
	})
}

// TestGitHubConcurrentDeliveries: a burst of deliveries for one pool, as
// a matrix build queues them, all count: the check-and-set retries, and
// none is lost to another's write.
func TestGitHubConcurrentDeliveries(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		const n = 24
		var bodies [][]byte
		for i := range n {
			j := fakegh.Job{ID: int64(5000000000 + i), RunID: int64(i + 1), Repo: "octo/app", Name: "m", Labels: []string{"linux"}, Status: "queued"}
			b, _ := json.Marshal(ss.gh.WorkflowJobPayload("queued", j))
			bodies = append(bodies, b)
		}
		var wg sync.WaitGroup
		codes := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", ss.srv.URL+"/hooks/"+ss.cap+"/github", bytes.NewReader(bodies[i]))
				fakegh.SignRequest(req, ghSecretCanary, "workflow_job", fmt.Sprintf("burst-%d", i), bodies[i])
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					codes[i] = resp.StatusCode
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Errorf("delivery %d = %d", i, c)
			}
		}
		if got := ss.demand(t); got != [2]int{n, 0} {
			t.Fatalf("demand %v; want [%d 0]", got, n)
		}
	})
}
