// Package github is a local stand-in for the parts of the GitHub REST API and
// webhooks a CI-driven pool uses: queued workflow runs and their jobs,
// just-in-time runner configs, token auth, X-RateLimit-* headers, and signed
// workflow_job deliveries. Start one with Start; drive it with QueueJob,
// StartJob and FinishJob.
package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Job is one workflow job as the fake holds it; every job has its own run.
type Job struct {
	ID, RunID  int64
	Repo       string // owner/name
	Name       string
	Labels     []string
	Status     string // queued, in_progress, completed
	Conclusion string // set when completed
	RunnerName string
	RunnerID   int64
	Created    time.Time
	Started    time.Time
	Completed  time.Time
}

// JITRequest records one generate-jitconfig call the fake answered.
type JITRequest struct {
	Scope         string // "repos/owner/name" or "orgs/org"
	Name          string
	RunnerGroupID int64
	Labels        []string
	WorkFolder    string // "" when the call sent none (GitHub's default _work)
	RunnerID      int64
	Encoded       string // the encoded_jit_config returned
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL   string // base URL, like https://api.github.com
	Token string // the only token accepted

	srv  *httptest.Server
	hook *hook
	app  *app

	mu        sync.Mutex
	now       func() time.Time
	nextID    int64
	jobs      map[int64]*Job
	repos     map[string]bool
	runners   map[string]*runner // scope + "\x00" + name: names are unique per scope
	jit       []JITRequest
	regTokens []RegistrationToken
	fail      []int // statuses the next runner-endpoint calls answer with
	limit     int
	remaining int
	reset     time.Time
	calls     int
	secondary int // next calls to refuse with Retry-After
	retry     time.Duration
}

// Start serves a fake on 127.0.0.1 that accepts token, closed when tb ends.
func Start(tb testing.TB, token string) *Server {
	tb.Helper()
	s := New(token)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// New returns an unstarted fake (serve it with any http.Server; set URL).
func New(token string) *Server {
	return &Server{
		Token:     token,
		now:       time.Now,
		nextID:    4000000000, // ids past 2^31, as GitHub's job ids are today
		jobs:      map[int64]*Job{},
		repos:     map[string]bool{},
		runners:   map[string]*runner{},
		limit:     5000,
		remaining: 5000,
		reset:     time.Now().Add(time.Hour).Truncate(time.Second),
	}
}

// SetClock makes the fake read time from now (for created_at and the rate
// limit reset).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetRateLimit sets the primary rate limit the next responses report; with
// remaining 0 the API answers 403 "API rate limit exceeded" until it is
// raised again.
func (s *Server) SetRateLimit(limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.remaining, s.reset = limit, remaining, reset
}

// SetSecondaryLimit makes the next n calls answer 403 with Retry-After
// (whole seconds), GitHub's secondary rate limit.
func (s *Server) SetSecondaryLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondary, s.retry = n, retryAfter
}

// Calls is how many authenticated API calls were answered.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// QueueJob adds a queued job (in a new workflow run) to repo and, when a
// webhook is set, delivers workflow_job "queued".
func (s *Server) QueueJob(repo, name string, labels ...string) (Job, error) {
	s.mu.Lock()
	s.nextID++
	j := &Job{ID: s.nextID, RunID: s.nextID - 3000000000, Repo: repo, Name: name,
		Labels: append([]string(nil), labels...), Status: "queued", Created: s.now().UTC().Truncate(time.Second)}
	s.jobs[j.ID] = j
	s.repos[repo] = true
	cp := j.copy()
	s.mu.Unlock()
	return cp, s.deliver("queued", cp)
}

// StartJob puts a queued job on runnerName and delivers "in_progress".
func (s *Server) StartJob(id int64, runnerName string) (Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok || j.Status != "queued" {
		s.mu.Unlock()
		return Job{}, fmt.Errorf("fake github: job %d is not queued", id)
	}
	s.nextID++
	j.Status, j.RunnerName, j.RunnerID, j.Started = "in_progress", runnerName, s.nextID%100000, s.now().UTC().Truncate(time.Second)
	cp := j.copy()
	s.mu.Unlock()
	return cp, s.deliver("in_progress", cp)
}

// FinishJob completes a job with conclusion (success, failure, cancelled,
// skipped) and delivers "completed". A queued job may be cancelled.
func (s *Server) FinishJob(id int64, conclusion string) (Job, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok || j.Status == "completed" {
		s.mu.Unlock()
		return Job{}, fmt.Errorf("fake github: job %d is not open", id)
	}
	j.Status, j.Conclusion, j.Completed = "completed", conclusion, s.now().UTC().Truncate(time.Second)
	cp := j.copy()
	s.mu.Unlock()
	return cp, s.deliver("completed", cp)
}

// AddRepo makes repo known with no jobs (unknown repos answer 404).
func (s *Server) AddRepo(repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repo] = true
}

// Jobs returns every job, oldest first.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j.copy())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// JITRequests returns the generate-jitconfig calls answered so far.
func (s *Server) JITRequests() []JITRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]JITRequest(nil), s.jit...)
}

func (j *Job) copy() Job {
	c := *j
	c.Labels = append([]string(nil), j.Labels...)
	return c
}

// ServeHTTP answers the REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method == http.MethodPost && match(p, "app", "installations", "*", "access_tokens") {
		s.accessTokens(w, r, p[2])
		return
	}
	if !s.admit(w, r) {
		return
	}
	s.route(w, r, p)
}

// admit answers a call GitHub would refuse (bad credentials, rate limit,
// unsupported API version) and reports whether the call may go on.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if !s.authorized(r) {
		msg := "Bad credentials"
		if r.Header.Get("Authorization") == "" {
			msg = "Requires authentication"
		}
		writeError(w, http.StatusUnauthorized, msg)
		return false
	}
	if !s.spend(w) {
		msg := "API rate limit exceeded for user. Wait for the reset time in x-ratelimit-reset."
		if w.Header().Get("Retry-After") != "" {
			msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
		}
		writeError(w, http.StatusForbidden, msg)
		return false
	}
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != "2022-11-28" && v != "2026-03-10" {
		// GitHub answers 410 Gone for a version it no longer (or never) supports.
		writeError(w, http.StatusGone, "Unsupported 'X-GitHub-Api-Version' header: "+v)
		return false
	}
	return true
}

// route sends an admitted call to its endpoint by method and path p.
func (s *Server) route(w http.ResponseWriter, r *http.Request, p []string) {
	switch {
	case r.Method == http.MethodGet && match(p, "repos", "*", "*", "actions", "runs"):
		s.listRuns(w, r, p[1]+"/"+p[2])
	case r.Method == http.MethodGet && match(p, "repos", "*", "*", "actions", "runs", "*", "jobs"):
		s.listJobs(w, r, p[1]+"/"+p[2], p[5])
	case r.Method == http.MethodGet && match(p, "repos", "*", "*", "actions", "jobs", "*"):
		s.getJob(w, p[1]+"/"+p[2], p[5])
	case r.Method == http.MethodGet && match(p, "orgs", "*", "repos"):
		s.listOrgRepos(w, r, p[1])
	case len(p) >= 5 && match(p[:5], "repos", "*", "*", "actions", "runners"):
		s.routeRunners(w, r, "repos/"+p[1]+"/"+p[2], p[5:])
	case len(p) >= 4 && match(p[:4], "orgs", "*", "actions", "runners"):
		s.routeRunners(w, r, "orgs/"+p[1], p[4:])
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

// authorized accepts "Bearer <token>" or "token <token>", as GitHub does,
// with the configured token or a live App installation token.
func (s *Server) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !(strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) || tok == "" {
		return false
	}
	return (tok == s.Token && s.Token != "") || s.installationToken(tok)
}

// spend counts one call against the primary limit and writes the headers.
func (s *Server) spend(w http.ResponseWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	secondary := s.secondary > 0
	ok := s.remaining > 0 && !secondary
	if secondary {
		s.secondary--
		w.Header().Set("Retry-After", strconv.Itoa(int(s.retry/time.Second)))
	} else if ok {
		s.remaining--
		s.calls++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(s.remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.limit-s.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return ok
}

func match(p []string, pat ...string) bool {
	if len(p) != len(pat) {
		return false
	}
	for i := range p {
		if p[i] == "" || (pat[i] != "*" && pat[i] != p[i]) {
			return false
		}
	}
	return true
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(code),
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
