package buildkite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Mode is how webhook deliveries authenticate (a Buildkite webhook setting).
type Mode int

const (
	// Signature sends X-Buildkite-Signature: timestamp=…,signature=…,
	// HMAC-SHA256 over "<timestamp>.<body>" keyed with the webhook token.
	Signature Mode = iota
	// Token sends the webhook token in clear in X-Buildkite-Token.
	Token
)

// Delivery is one webhook request the fake sent.
type Delivery struct {
	Event  string
	Body   []byte
	Header http.Header
	Status int
	Err    error
}

type hook struct {
	url, token string
	mode       Mode
	client     *http.Client
	sent       []Delivery
}

// SetWebhook makes every later job change POST its event to url.
func (s *Server) SetWebhook(url, token string, mode Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = &hook{url: url, token: token, mode: mode, client: &http.Client{Timeout: 10 * time.Second}}
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

// Replay sends delivery i again with its original headers, as an attacker
// who captured it would.
func (s *Server) Replay(i int) (Delivery, error) {
	s.mu.Lock()
	h := s.hook
	if h == nil || i < 0 || i >= len(h.sent) {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("fake buildkite: no delivery %d", i)
	}
	d := h.sent[i]
	s.mu.Unlock()
	return s.post(h, d.Event, d.Body, d.Header.Clone())
}

// Ping sends the ping event Buildkite sends when webhook settings change:
// {event, service, organization, sender}.
func (s *Server) Ping() (Delivery, error) {
	s.mu.Lock()
	h, now := s.hook, s.now()
	s.mu.Unlock()
	if h == nil {
		return Delivery{}, fmt.Errorf("fake buildkite: no webhook set")
	}
	body, err := json.Marshal(map[string]any{
		"event":        "ping",
		"service":      map[string]any{"id": uuidFor("service"), "provider": "webhook", "settings": map[string]any{"url": h.url}},
		"organization": map[string]any{"id": uuidFor(s.OrgSlug), "slug": s.OrgSlug, "name": s.OrgSlug},
		"sender":       map[string]any{"id": uuidFor("sender"), "name": "Keith Pitt"},
	})
	if err != nil {
		return Delivery{}, err
	}
	hdr := http.Header{}
	SignHeaders(hdr, h.mode, h.token, "ping", body, now)
	return s.post(h, "ping", body, hdr)
}

func (s *Server) deliver(event string, j Job) error {
	s.mu.Lock()
	h, now := s.hook, s.now()
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	body, err := json.Marshal(s.JobPayload(event, j))
	if err != nil {
		return err
	}
	hdr := http.Header{}
	SignHeaders(hdr, h.mode, h.token, event, body, now)
	d, err := s.post(h, event, body, hdr)
	if err != nil {
		return err
	}
	if d.Status/100 != 2 {
		return fmt.Errorf("fake buildkite: %s got HTTP %d", event, d.Status)
	}
	return nil
}

func (s *Server) post(h *hook, event string, body []byte, hdr http.Header) (Delivery, error) {
	req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return Delivery{}, err
	}
	req.Header = hdr
	d := Delivery{Event: event, Body: body, Header: hdr.Clone()}
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

// SignHeaders sets the headers Buildkite sends: X-Buildkite-Event, the
// JSON content type, and X-Buildkite-Signature (timestamp at) or
// X-Buildkite-Token per mode. Tests use it to craft hostile deliveries.
func SignHeaders(h http.Header, mode Mode, token, event string, body []byte, at time.Time) {
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Buildkite-Request")
	h.Set("X-Buildkite-Event", event)
	if mode == Token {
		h.Set("X-Buildkite-Token", token)
		return
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(ts + "."))
	m.Write(body)
	h.Set("X-Buildkite-Signature", "timestamp="+ts+",signature="+hex.EncodeToString(m.Sum(nil)))
}

// JobPayload is the body of a job event: {event, job, build, pipeline,
// sender}, job/build/pipeline in the REST API's shapes (Buildkite's
// job_events page).
func (s *Server) JobPayload(event string, j Job) map[string]any {
	job := map[string]any{
		"id": j.ID, "type": "script", "name": ":go: test", "step_key": nil, "state": j.State,
		"agent_query_rules": []string{"queue=" + j.Queue},
		"web_url":           "https://buildkite.com/" + s.OrgSlug + "/" + j.Pipeline + "/builds/1#" + j.ID,
		"command":           "go test ./...", "exit_status": nil, "agent": nil,
	}
	if j.Agent != "" {
		job["agent"] = map[string]any{"id": uuidFor(j.Agent), "url": "https://api.buildkite.com/v2/organizations/" + s.OrgSlug + "/agents/" + uuidFor(j.Agent), "name": j.Agent}
	}
	if j.State == "passed" || j.State == "failed" {
		job["exit_status"] = j.Exit
	}
	return map[string]any{
		"event": event,
		"job":   job,
		"build": map[string]any{"id": uuidFor(j.ID + "/build"), "number": 1, "state": "running", "branch": "main", "commit": "HEAD"},
		"pipeline": map[string]any{"id": uuidFor(j.Pipeline), "slug": j.Pipeline, "name": j.Pipeline,
			"url": "https://api.buildkite.com/v2/organizations/" + s.OrgSlug + "/pipelines/" + j.Pipeline},
		"sender": map[string]any{"id": uuidFor("sender"), "name": "Keith Pitt"},
	}
}

// uuidFor derives a stable UUID-shaped id from a name.
func uuidFor(name string) string {
	h := sha256.Sum256([]byte(name))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
}
