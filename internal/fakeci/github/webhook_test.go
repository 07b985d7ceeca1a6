package github_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/token"
)

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
	if r.Header.Get("X-GitHub-Event") == "ping" {
		rc.mu.Lock()
		rc.ids = append(rc.ids, "ping")
		rc.mu.Unlock()
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
	// The ping on hook creation is signed the same way.
	if d, err := s.Ping(); err != nil || d.Status != 200 || rc.ids[len(rc.ids)-1] != "ping" {
		t.Fatalf("ping: %+v %v", d, err)
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
