package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Delivery is one webhook delivery the fake sent (or tried to).
type Delivery struct {
	ID     string // X-GitHub-Delivery
	Event  string // X-GitHub-Event
	Action string
	Body   []byte
	Header http.Header
	Status int   // the receiver's answer; 0 when the request failed
	Err    error // transport error, if any
}

type hook struct {
	url, secret string
	client      *http.Client
	sent        []Delivery
}

// SetWebhook makes every later state change POST a signed workflow_job
// delivery to url, as a repository webhook with content type json does.
// An empty secret sends no X-Hub-Signature-256 (GitHub's behaviour).
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = &hook{url: url, secret: secret, client: &http.Client{Timeout: 10 * time.Second}}
}

// Deliveries returns the deliveries sent so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hook == nil {
		return nil
	}
	return append([]Delivery(nil), s.hook.sent...)
}

// Redeliver sends delivery id again, byte for byte with the same
// X-GitHub-Delivery, as GitHub's "Redeliver" button does.
func (s *Server) Redeliver(id string) (Delivery, error) {
	s.mu.Lock()
	h := s.hook
	var d *Delivery
	if h != nil {
		for i := range h.sent {
			if h.sent[i].ID == id {
				d = &h.sent[i]
			}
		}
	}
	s.mu.Unlock()
	if d == nil {
		return Delivery{}, fmt.Errorf("fake github: no delivery %s", id)
	}
	return s.post(h, d.Event, d.Action, d.ID, d.Body)
}

// Ping sends the ping event GitHub sends once when a webhook is created
// (payload: zen, hook_id, hook with type Repository).
func (s *Server) Ping() (Delivery, error) {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h == nil {
		return Delivery{}, fmt.Errorf("fake github: no webhook set")
	}
	body, err := json.Marshal(map[string]any{
		"zen":     "Design for failure.",
		"hook_id": 292430182,
		"hook": map[string]any{"type": "Repository", "id": 292430182, "name": "web", "active": true,
			"events": []string{"workflow_job"}, "config": map[string]any{"content_type": "json", "insecure_ssl": "0", "url": h.url}},
		"sender": map[string]any{"login": "octocat", "id": 583231, "type": "User"},
	})
	if err != nil {
		return Delivery{}, err
	}
	return s.post(h, "ping", "", newGUID(), body)
}

// deliver sends workflow_job/action for j when a webhook is set. A receiver
// that answers non-2xx is an error (GitHub counts it failed).
func (s *Server) deliver(action string, j Job) error {
	s.mu.Lock()
	h := s.hook
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	body, err := json.Marshal(s.WorkflowJobPayload(action, j))
	if err != nil {
		return err
	}
	d, err := s.post(h, "workflow_job", action, newGUID(), body)
	if err != nil {
		return err
	}
	if d.Status/100 != 2 {
		return fmt.Errorf("fake github: delivery %s (%s) got HTTP %d", d.ID, action, d.Status)
	}
	return nil
}

func (s *Server) post(h *hook, event, action, id string, body []byte) (Delivery, error) {
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	SignRequest(req, h.secret, event, id, body)
	d := Delivery{ID: id, Event: event, Action: action, Body: body, Header: req.Header.Clone()}
	resp, err := h.client.Do(req)
	if err != nil {
		d.Err = err
	} else {
		d.Status = resp.StatusCode
		resp.Body.Close()
	}
	s.mu.Lock()
	h.sent = append(h.sent, d)
	s.mu.Unlock()
	return d, err
}

// SignRequest sets the headers GitHub sends with a json delivery: event,
// delivery GUID, hook ids, Hookshot user agent and, with a secret,
// X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of the body). Tests use
// it to hand-craft deliveries, hostile ones included.
func SignRequest(req *http.Request, secret, event, deliveryID string, body []byte) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", deliveryID)
	req.Header.Set("X-GitHub-Hook-ID", "292430182")
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	req.Header.Set("X-GitHub-Hook-Installation-Target-ID", "79929171")
	if secret != "" {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
}

// WorkflowJobPayload is the workflow_job body for action on j, shaped as
// GitHub's published example (octokit/webhooks workflow_job schemas: action,
// workflow_job, repository, organization, sender).
func (s *Server) WorkflowJobPayload(action string, j Job) map[string]any {
	owner, _, _ := strings.Cut(j.Repo, "/")
	return map[string]any{
		"action":       action,
		"workflow_job": s.jobJSON(j),
		"repository": map[string]any{
			"id": s.repoJSON(j.Repo).ID, "node_id": "R_kgDOB", "name": s.repoJSON(j.Repo).Name, "full_name": j.Repo,
			"private": false, "owner": map[string]any{"login": owner, "id": 9919, "type": "Organization"},
			"html_url": "https://github.com/" + j.Repo, "url": s.URL + "/repos/" + j.Repo, "default_branch": "main",
		},
		"organization": map[string]any{"login": owner, "id": 9919, "node_id": "O_kgDOB", "url": s.URL + "/orgs/" + owner},
		"sender":       map[string]any{"login": "octocat", "id": 583231, "type": "User"},
	}
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
