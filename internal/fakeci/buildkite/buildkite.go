// Package buildkite is a local stand-in for Buildkite's agent metrics API
// (GET /v3/metrics and /v3/metrics/queue, Authorization: Token <agent
// token>, as buildkite-agent-scaler and buildkite-agent-metrics read it) and
// a sender of job.scheduled/started/finished webhooks, signed
// (X-Buildkite-Signature) or in token mode (X-Buildkite-Token). Drive it with
// ScheduleJob, AddAgent, StartJob and FinishJob.
package buildkite

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Job is one command job as the fake holds it.
type Job struct {
	ID       string // UUID
	Queue    string
	Pipeline string
	State    string // scheduled, running, passed, failed
	Agent    string // agent name once started
	Exit     int
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL        string // endpoint base, like https://agent.buildkite.com/v3
	AgentToken string
	OrgSlug    string
	Cluster    string
	// PollSeconds, when > 0, is sent as Buildkite-Agent-Metrics-Poll-Duration.
	PollSeconds int

	srv *httptest.Server

	mu     sync.Mutex
	now    func() time.Time
	jobs   map[string]*Job
	order  []string
	agents map[string]agent // name -> agent
	hook   *hook
	calls  int
}

type agent struct {
	queue string
	busy  bool
}

// Start serves a fake on 127.0.0.1 (URL ends in /v3), closed when tb ends.
func Start(tb testing.TB, agentToken string) *Server {
	tb.Helper()
	s := New(agentToken)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/v3"
	tb.Cleanup(s.srv.Close)
	return s
}

// New returns an unstarted fake.
func New(agentToken string) *Server {
	return &Server{AgentToken: agentToken, OrgSlug: "acme", Cluster: "default", now: time.Now,
		jobs: map[string]*Job{}, agents: map[string]agent{}}
}

// SetClock sets the time source (webhook signature timestamps).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Calls is how many authenticated metrics calls were answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// AddAgent connects an idle agent named name to queue.
func (s *Server) AddAgent(queue, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agents[name] = agent{queue: queue}
}

// RemoveAgent disconnects an agent (its instance ended).
func (s *Server) RemoveAgent(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.agents, name)
}

// ScheduleJob adds a scheduled job for queue and sends job.scheduled.
func (s *Server) ScheduleJob(queue, pipeline string) (Job, error) {
	s.mu.Lock()
	j := &Job{ID: uuid(), Queue: queue, Pipeline: pipeline, State: "scheduled"}
	s.jobs[j.ID] = j
	s.order = append(s.order, j.ID)
	cp := *j
	s.mu.Unlock()
	return cp, s.deliver("job.scheduled", cp)
}

// StartJob runs a scheduled job on a connected idle agent of its queue and
// sends job.started.
func (s *Server) StartJob(id, agentName string) (Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	a, connected := s.agents[agentName]
	switch {
	case !ok || j.State != "scheduled":
		s.mu.Unlock()
		return Job{}, fmt.Errorf("fake buildkite: job %s is not scheduled", id)
	case !connected || a.busy || a.queue != j.Queue:
		s.mu.Unlock()
		return Job{}, fmt.Errorf("fake buildkite: agent %s is not an idle agent of queue %s", agentName, j.Queue)
	}
	j.State, j.Agent = "running", agentName
	s.agents[agentName] = agent{queue: a.queue, busy: true}
	cp := *j
	s.mu.Unlock()
	return cp, s.deliver("job.started", cp)
}

// FinishJob ends a running job (exit 0 passed, else failed), frees its agent
// and sends job.finished.
func (s *Server) FinishJob(id string, exit int) (Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok || j.State != "running" {
		s.mu.Unlock()
		return Job{}, fmt.Errorf("fake buildkite: job %s is not running", id)
	}
	j.State, j.Exit = "passed", exit
	if exit != 0 {
		j.State = "failed"
	}
	if a, ok := s.agents[j.Agent]; ok {
		s.agents[j.Agent] = agent{queue: a.queue}
	}
	cp := *j
	s.mu.Unlock()
	return cp, s.deliver("job.finished", cp)
}

// Jobs returns every job in the order scheduled.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.jobs[id])
	}
	return out
}

type agentCounts struct {
	Idle  int `json:"idle"`
	Busy  int `json:"busy"`
	Total int `json:"total"`
}

type jobCounts struct {
	Scheduled int `json:"scheduled"`
	Running   int `json:"running"`
	Waiting   int `json:"waiting"`
	Total     int `json:"total"`
}

// counts tallies per queue; s.mu must be held.
func (s *Server) counts() (map[string]*agentCounts, map[string]*jobCounts) {
	ac, jc := map[string]*agentCounts{}, map[string]*jobCounts{}
	for _, a := range s.agents {
		c := ac[a.queue]
		if c == nil {
			c = &agentCounts{}
			ac[a.queue] = c
		}
		if a.busy {
			c.Busy++
		} else {
			c.Idle++
		}
		c.Total++
	}
	for _, j := range s.jobs {
		c := jc[j.Queue]
		if c == nil {
			c = &jobCounts{}
			jc[j.Queue] = c
		}
		switch j.State {
		case "scheduled":
			c.Scheduled++
		case "running":
			c.Running++
		default:
			continue // finished jobs are not counted
		}
		c.Total++
	}
	return ac, jc
}

// ServeHTTP answers GET <base>/v3/metrics and /v3/metrics/queue?name=.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if scheme != "Token" || tok == "" || tok != s.AgentToken {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid token"})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method not allowed"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ac, jc := s.counts()
	if s.PollSeconds > 0 {
		w.Header().Set("Buildkite-Agent-Metrics-Poll-Duration", strconv.Itoa(s.PollSeconds))
	}
	switch r.URL.Path {
	case "/v3/metrics":
		s.calls++
		var at agentCounts
		var jt jobCounts
		aq, jq := map[string]agentCounts{}, map[string]jobCounts{}
		for q, c := range ac {
			aq[q] = *c
			at.Idle, at.Busy, at.Total = at.Idle+c.Idle, at.Busy+c.Busy, at.Total+c.Total
		}
		for q, c := range jc {
			jq[q] = *c
			jt.Scheduled, jt.Running, jt.Total = jt.Scheduled+c.Scheduled, jt.Running+c.Running, jt.Total+c.Total
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"agents":       map[string]any{"idle": at.Idle, "busy": at.Busy, "total": at.Total, "queues": aq},
			"jobs":         map[string]any{"scheduled": jt.Scheduled, "running": jt.Running, "waiting": jt.Waiting, "total": jt.Total, "queues": jq},
			"organization": map[string]string{"slug": s.OrgSlug},
		})
	case "/v3/metrics/queue":
		name := r.URL.Query().Get("name")
		if name == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "name is required"})
			return
		}
		s.calls++
		a, j := agentCounts{}, jobCounts{}
		if c := ac[name]; c != nil {
			a = *c
		}
		if c := jc[name]; c != nil {
			j = *c
		}
		writeJSON(w, http.StatusOK, map[string]any{"agents": a, "jobs": j,
			"organization": map[string]string{"slug": s.OrgSlug}, "cluster": map[string]string{"name": s.Cluster}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
