// Package taskcluster is a local stand-in for the Taskcluster calls a
// spot pool polls: the queue's pending count
// (GET /api/queue/v1/pending/<taskQueueId>), its stable counts endpoint
// (GET /api/queue/v1/task-queues/<taskQueueId>/counts, with claimedTasks),
// its claimed tasks with the worker of each (listClaimedTasks, GET
// /api/queue/v1/task-queues/<taskQueueId>/claimed)
// and worker-manager's two worker listings (listWorkersForWorkerPool and
// listWorkers, the one with a workerState filter), with Hawk auth and
// scopes. Drive it with CreateTask, ClaimTask, ResolveTask and the worker
// setters.
package taskcluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Worker is one worker as worker-manager lists it.
type Worker struct {
	WorkerPoolID string
	WorkerGroup  string
	WorkerID     string
	State        string // requested, running, stopping, stopped
	Created      time.Time
	FirstClaim   time.Time // zero until it claims a task
	LatestTask   string    // last task id it claimed
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	RootURL string // like https://tc.example.com, no path, no trailing slash

	srv *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	clients  map[string]string   // clientId -> accessToken
	scopes   map[string][]string // clientId -> scopes; "" is assume:anonymous
	nextTask int
	pending  map[string][]string // taskQueueId -> task ids, oldest first
	claimed  map[string]claim    // task id -> its claim
	claimSeq int
	workers  map[string]*Worker // pool/group/id
	pools    map[string]bool
	calls    int
}

// taskQueueRe is the documented pattern for <provisionerId>/<workerType>.
var taskQueueRe = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`)

// Start serves a fake on 127.0.0.1, closed when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := New()
	s.srv = httptest.NewServer(s)
	s.RootURL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// New returns an unstarted fake with no clients and an empty anonymous
// role (a private deployment).
func New() *Server {
	return &Server{now: time.Now, clients: map[string]string{}, scopes: map[string][]string{},
		pending: map[string][]string{}, claimed: map[string]claim{}, workers: map[string]*Worker{}, pools: map[string]bool{}}
}

// SetClock sets the time source for Hawk's timestamp check.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// AddClient adds credentials holding scopes (a trailing * matches any
// suffix, as in Taskcluster).
func (s *Server) AddClient(clientID, accessToken string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = accessToken
	s.scopes[clientID] = scopes
}

// SetAnonymousScopes sets what assume:anonymous grants every caller; a
// public deployment grants queue:pending-count:*.
func (s *Server) SetAnonymousScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes[""] = scopes
}

// Calls is how many API calls were answered 200.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// CreateTask adds a pending task to taskQueueID and returns its id.
func (s *Server) CreateTask(taskQueueID string) (string, error) {
	if !taskQueueRe.MatchString(taskQueueID) {
		return "", fmt.Errorf("fake taskcluster: bad taskQueueId %q", taskQueueID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTask++
	id := fmt.Sprintf("fakeTask%014d", s.nextTask) // 22 chars, like a slugid
	s.pending[taskQueueID] = append(s.pending[taskQueueID], id)
	return id, nil
}

// ClaimTask gives the oldest pending task of taskQueueID to a worker, whose
// pool is the same id; the worker becomes running.
func (s *Server) ClaimTask(taskQueueID, workerGroup, workerID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.pending[taskQueueID]
	if len(q) == 0 {
		return "", fmt.Errorf("fake taskcluster: nothing pending in %s", taskQueueID)
	}
	id := q[0]
	s.pending[taskQueueID] = q[1:]
	s.claimSeq++
	s.claimed[id] = claim{queue: taskQueueID, group: workerGroup, worker: workerID, at: s.now().UTC(), seq: s.claimSeq}
	wk := s.setWorker(taskQueueID, workerGroup, workerID, "running")
	if wk.FirstClaim.IsZero() {
		wk.FirstClaim = s.now().UTC()
	}
	wk.LatestTask = id
	return id, nil
}

// ResolveTask ends a claimed task.
func (s *Server) ResolveTask(taskID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claimed[taskID]; !ok {
		return fmt.Errorf("fake taskcluster: task %s is not claimed", taskID)
	}
	delete(s.claimed, taskID)
	return nil
}

// SetWorker adds or updates a worker of pool in state.
func (s *Server) SetWorker(pool, group, id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setWorker(pool, group, id, state)
}

func (s *Server) setWorker(pool, group, id, state string) *Worker {
	s.pools[pool] = true
	k := pool + "/" + group + "/" + id
	if w, ok := s.workers[k]; ok {
		w.State = state
		return w
	}
	w := &Worker{WorkerPoolID: pool, WorkerGroup: group, WorkerID: id, State: state, Created: s.now().UTC()}
	s.workers[k] = w
	return w
}

// AddWorkerPool makes a worker pool exist with no workers (the listing of
// an unknown pool answers 404 ResourceNotFound).
func (s *Server) AddWorkerPool(pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pools[pool] = true
}

// authorize checks Hawk (when sent) and that the caller's scopes, with
// anonymous ones, satisfy all of need. It writes the error and returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	have := append([]string(nil), s.scopes[""]...)
	if r.Header.Get("Authorization") != "" {
		client, err := verifyHawk(r, s.clients, s.now())
		if err != nil {
			writeError(w, http.StatusUnauthorized, "AuthenticationFailed", "Hawk authentication failed: "+err.Error())
			return false
		}
		have = append(have, s.scopes[client]...)
	}
	for _, n := range need {
		if !satisfies(have, n) {
			writeError(w, http.StatusForbidden, "InsufficientScopes", "Client ID does not have sufficient scopes; it needs "+strings.Join(need, " and "))
			return false
		}
	}
	s.calls++
	return true
}

func satisfies(have []string, need string) bool {
	for _, h := range have {
		if h == need || (strings.HasSuffix(h, "*") && strings.HasPrefix(need, strings.TrimSuffix(h, "*"))) {
			return true
		}
	}
	return false
}

// ServeHTTP routes <rootUrl>/api/<service>/v1/<path>. The taskQueueId may
// come with its slash raw or escaped (%2F), as the clients send it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method != http.MethodGet {
		writeError(w, http.StatusNotFound, "ResourceNotFound", "no such route")
		return
	}
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/api/queue/v1/pending/"):
		id, ok := queueID(strings.TrimPrefix(p, "/api/queue/v1/pending/"))
		if !ok {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "taskQueueId must be <provisionerId>/<workerType>")
			return
		}
		if !s.authorize(w, r, "queue:pending-count:"+id) {
			return
		}
		prov, wt, _ := strings.Cut(id, "/")
		s.mu.Lock()
		n := len(s.pending[id])
		s.mu.Unlock()
		writeJSON(w, map[string]any{"provisionerId": prov, "workerType": wt, "taskQueueId": id, "pendingTasks": n})
	case strings.HasPrefix(p, "/api/queue/v1/task-queues/") && strings.HasSuffix(p, "/claimed"):
		id, ok := queueID(strings.TrimSuffix(strings.TrimPrefix(p, "/api/queue/v1/task-queues/"), "/claimed"))
		if !ok {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "taskQueueId must be <provisionerId>/<workerType>")
			return
		}
		if !s.authorize(w, r, "queue:claimed-list:"+id) {
			return
		}
		s.listClaimed(w, r, id)
	case strings.HasPrefix(p, "/api/queue/v1/task-queues/") && strings.HasSuffix(p, "/counts"):
		id, ok := queueID(strings.TrimSuffix(strings.TrimPrefix(p, "/api/queue/v1/task-queues/"), "/counts"))
		if !ok {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "taskQueueId must be <provisionerId>/<workerType>")
			return
		}
		if !s.authorize(w, r, "queue:pending-count:"+id, "queue:claimed-count:"+id) {
			return
		}
		s.mu.Lock()
		pending, claimed := len(s.pending[id]), 0
		for _, c := range s.claimed {
			if c.queue == id {
				claimed++
			}
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"taskQueueId": id, "pendingTasks": pending, "claimedTasks": claimed})
	case strings.HasPrefix(p, "/api/worker-manager/v1/workers/"):
		id, ok := queueID(strings.TrimPrefix(p, "/api/worker-manager/v1/workers/"))
		if !ok {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "workerPoolId must be <provisionerId>/<workerType>")
			return
		}
		if !s.authorize(w, r, "worker-manager:list-workers:"+id) {
			return
		}
		s.listWorkers(w, r, id, false)
	case strings.HasPrefix(p, "/api/worker-manager/v1/provisioners/") && strings.HasSuffix(p, "/workers"):
		mid := strings.TrimSuffix(strings.TrimPrefix(p, "/api/worker-manager/v1/provisioners/"), "/workers")
		prov, wt, ok := strings.Cut(mid, "/worker-types/")
		id := prov + "/" + wt
		if !ok || !taskQueueRe.MatchString(id) {
			writeError(w, http.StatusBadRequest, "InvalidRequestArguments", "need /provisioners/<provisionerId>/worker-types/<workerType>/workers")
			return
		}
		if !s.authorize(w, r, "worker-manager:list-workers:"+id) {
			return
		}
		s.listWorkers(w, r, id, true)
	default:
		writeError(w, http.StatusNotFound, "ResourceNotFound", "no such route")
	}
}

func queueID(escaped string) (string, bool) {
	id, err := url.PathUnescape(escaped)
	return id, err == nil && taskQueueRe.MatchString(id)
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, name, msg string) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": name, "message": msg, "requestInfo": map[string]any{}})
}
