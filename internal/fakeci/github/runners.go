package github

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The self-hosted runner endpoints of a repository or an organization, as
// the REST reference ("Self-hosted runners") documents them:
//
//	POST   /{scope}/actions/runners/generate-jitconfig  201 {runner, encoded_jit_config}
//	POST   /{scope}/actions/runners/registration-token  201 {token, expires_at}
//	GET    /{scope}/actions/runners?name=…              200 {total_count, runners}
//	DELETE /{scope}/actions/runners/{runner_id}         204
//
// where scope is repos/{owner}/{repo} or orgs/{org}.

// Runner is a self-hosted runner the fake registered.
type Runner struct {
	Scope         string
	ID            int64
	Name          string
	Labels        []string
	RunnerGroupID int64
	WorkFolder    string
	Busy          bool
}

type runner = Runner

// RegistrationToken records one registration-token call the fake answered.
type RegistrationToken struct {
	Scope     string
	Token     string
	ExpiresAt time.Time
}

// Runners returns the registered runners, by scope then name.
func (s *Server) Runners() []Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Runner, 0, len(s.runners))
	for _, r := range s.runners {
		c := *r
		c.Labels = append([]string(nil), r.Labels...)
		out = append(out, c)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Scope != out[b].Scope {
			return out[a].Scope < out[b].Scope
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// RegistrationTokens returns the registration tokens issued so far.
func (s *Server) RegistrationTokens() []RegistrationToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RegistrationToken(nil), s.regTokens...)
}

// FailRunnerCalls makes the next calls to the runner endpoints answer
// with statuses, one each, in order (e.g. 502, 503: GitHub having a bad
// minute; 0 answers that call as usual). The calls still count against
// the rate limit, as GitHub's do.
func (s *Server) FailRunnerCalls(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, statuses...)
}

// SetRunnerBusy marks a registered runner as running a job (or not).
func (s *Server) SetRunnerBusy(scope, name string, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.runners[scope+"\x00"+name]; r != nil {
		r.Busy = busy
	}
}

// routeRunners answers /{scope}/actions/runners/{rest…}.
func (s *Server) routeRunners(w http.ResponseWriter, r *http.Request, scope string, rest []string) {
	if !s.scopeKnown(scope) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	var fail int
	if len(s.fail) > 0 {
		fail, s.fail = s.fail[0], s.fail[1:]
	}
	s.mu.Unlock()
	if fail != 0 {
		writeError(w, fail, http.StatusText(fail))
		return
	}
	switch {
	case r.Method == http.MethodPost && match(rest, "generate-jitconfig"):
		s.generateJIT(w, r, scope)
	case r.Method == http.MethodPost && match(rest, "registration-token"):
		s.registrationToken(w, scope)
	case r.Method == http.MethodGet && len(rest) == 0:
		s.listRunners(w, r, scope)
	case r.Method == http.MethodDelete && match(rest, "*"):
		s.deleteRunner(w, scope, rest[0])
	default:
		writeError(w, http.StatusNotFound, "Not Found")
	}
}

// scopeKnown: a repository the fake knows, or an org owning one.
func (s *Server) scopeKnown(scope string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if repo, ok := strings.CutPrefix(scope, "repos/"); ok {
		return s.repos[repo]
	}
	org := strings.TrimPrefix(scope, "orgs/")
	for repo := range s.repos {
		if owner, _, _ := strings.Cut(repo, "/"); owner == org {
			return true
		}
	}
	return false
}

// generateJIT answers generate-jitconfig: 201 with the runner and its
// encoded config; 422 for a body that breaks the documented rules; 409
// when the scope already has a runner of that name.
func (s *Server) generateJIT(w http.ResponseWriter, r *http.Request, scope string) {
	var req struct {
		Name          string   `json:"name"`
		RunnerGroupID *int64   `json:"runner_group_id"`
		Labels        []string `json:"labels"`
		WorkFolder    string   `json:"work_folder"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &req) != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if req.Name == "" || req.RunnerGroupID == nil || len(req.Labels) < 1 || len(req.Labels) > 100 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: name, runner_group_id and 1 to 100 labels are required")
		return
	}
	s.mu.Lock()
	key := scope + "\x00" + req.Name
	if _, taken := s.runners[key]; taken {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "Already exists - A runner with the name "+req.Name+" already exists.")
		return
	}
	s.nextID++
	id := s.nextID % 100000
	s.runners[key] = &runner{Scope: scope, ID: id, Name: req.Name, Labels: append([]string(nil), req.Labels...),
		RunnerGroupID: *req.RunnerGroupID, WorkFolder: req.WorkFolder}
	enc := encodeJIT(req.Name, id)
	s.jit = append(s.jit, JITRequest{Scope: scope, Name: req.Name, RunnerGroupID: *req.RunnerGroupID, Labels: req.Labels,
		WorkFolder: req.WorkFolder, RunnerID: id, Encoded: enc})
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"runner": runnerJSON(runner{ID: id, Name: req.Name, Labels: req.Labels}), "encoded_jit_config": enc})
}

// registrationToken answers registration-token: 201 with a token good for
// an hour, shaped as the reference's example.
func (s *Server) registrationToken(w http.ResponseWriter, scope string) {
	raw := make([]byte, 18)
	_, _ = rand.Read(raw)
	tok := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)[:29]
	s.mu.Lock()
	exp := s.now().Add(time.Hour).Truncate(time.Second)
	s.regTokens = append(s.regTokens, RegistrationToken{Scope: scope, Token: tok, ExpiresAt: exp})
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "expires_at": exp.Format(time.RFC3339)})
}

// listRunners answers the runners listing, filtered by ?name= (exact).
func (s *Server) listRunners(w http.ResponseWriter, r *http.Request, scope string) {
	name := r.URL.Query().Get("name")
	out := []map[string]any{}
	for _, rn := range s.Runners() {
		if rn.Scope == scope && (name == "" || rn.Name == name) {
			out = append(out, runnerJSON(rn))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(out), "runners": out})
}

// deleteRunner answers 204, 404 for an unknown id, and 422 for a runner
// running a job, which GitHub will not remove.
func (s *Server) deleteRunner(w http.ResponseWriter, scope, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, rn := range s.runners {
		if err != nil || rn.Scope != scope || rn.ID != id {
			continue
		}
		if rn.Busy {
			writeError(w, http.StatusUnprocessableEntity, "Bad request - Runner \""+rn.Name+"\" is still running a job\"")
			return
		}
		delete(s.runners, k)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

func runnerJSON(r runner) map[string]any {
	labels := make([]map[string]any, len(r.Labels))
	for i, l := range r.Labels {
		labels[i] = map[string]any{"id": i + 1, "name": l, "type": "custom"}
	}
	status := "offline"
	if r.Busy {
		status = "online"
	}
	return map[string]any{"id": r.ID, "name": r.Name, "os": "unknown", "status": status, "busy": r.Busy, "labels": labels}
}

// encodeJIT builds an encoded_jit_config shaped as the runner decodes it:
// base64 of a JSON map of file name to base64 file content. The
// credentials in it are random, so every config is its own canary.
func encodeJIT(name string, id int64) string {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	cred := fmt.Sprintf(`{"scheme":"OAuthAccessToken","data":{"token":"%x"}}`, raw)
	files := map[string]string{
		".runner":                base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"agentId":%d,"agentName":%q,"poolId":1,"workFolder":"_work"}`, id, name))),
		".credentials":           base64.StdEncoding.EncodeToString([]byte(cred)),
		".credentials_rsaparams": base64.StdEncoding.EncodeToString([]byte(`{}`)),
	}
	b, _ := json.Marshal(files)
	return base64.StdEncoding.EncodeToString(b)
}
