package github

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The JSON shapes below carry the fields a scaler reads, named and typed as
// the REST reference (and go-github's structs) give them.

type repoJSON struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	FullName string `json:"full_name"`
	Private  bool   `json:"private"`
}

type runJSON struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	NodeID     string   `json:"node_id"`
	HeadBranch string   `json:"head_branch"`
	HeadSHA    string   `json:"head_sha"`
	RunNumber  int64    `json:"run_number"`
	RunAttempt int      `json:"run_attempt"`
	Event      string   `json:"event"`
	Status     string   `json:"status"`
	Conclusion *string  `json:"conclusion"`
	URL        string   `json:"url"`
	HTMLURL    string   `json:"html_url"`
	JobsURL    string   `json:"jobs_url"`
	CreatedAt  string   `json:"created_at"`
	UpdatedAt  string   `json:"updated_at"`
	Repository repoJSON `json:"repository"`
}

type stepJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Number int    `json:"number"`
}

type jobJSON struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	RunURL          string     `json:"run_url"`
	RunAttempt      int        `json:"run_attempt"`
	NodeID          string     `json:"node_id"`
	HeadSHA         string     `json:"head_sha"`
	HeadBranch      string     `json:"head_branch"`
	URL             string     `json:"url"`
	HTMLURL         string     `json:"html_url"`
	Status          string     `json:"status"`
	Conclusion      *string    `json:"conclusion"`
	CreatedAt       string     `json:"created_at"`
	StartedAt       string     `json:"started_at"`
	CompletedAt     *string    `json:"completed_at"`
	Name            string     `json:"name"`
	Steps           []stepJSON `json:"steps"`
	CheckRunURL     string     `json:"check_run_url"`
	Labels          []string   `json:"labels"`
	RunnerID        *int64     `json:"runner_id"`
	RunnerName      *string    `json:"runner_name"`
	RunnerGroupID   *int64     `json:"runner_group_id"`
	RunnerGroupName *string    `json:"runner_group_name"`
	WorkflowName    string     `json:"workflow_name"`
}

const headSHA = "e3103f8eb03e1ad7f2331c5446b23c070fc54055" // from GitHub's example payload

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) repoJSON(repo string) repoJSON {
	name := repo
	if _, n, ok := strings.Cut(repo, "/"); ok {
		name = n
	}
	return repoJSON{ID: int64(len(repo)) * 1000003, Name: name, FullName: repo}
}

func (s *Server) runJSON(j Job) runJSON {
	api := s.URL + "/repos/" + j.Repo + "/actions/runs/" + strconv.FormatInt(j.RunID, 10)
	r := runJSON{ID: j.RunID, Name: "CI", NodeID: fmt.Sprintf("WFR_%d", j.RunID), HeadBranch: "main", HeadSHA: headSHA,
		RunNumber: j.RunID % 1000, RunAttempt: 1, Event: "push", Status: j.Status, URL: api,
		HTMLURL: "https://github.com/" + j.Repo + "/actions/runs/" + strconv.FormatInt(j.RunID, 10), JobsURL: api + "/jobs",
		CreatedAt: stamp(j.Created), UpdatedAt: stamp(j.Created), Repository: s.repoJSON(j.Repo)}
	if j.Status == "completed" {
		r.Conclusion = &j.Conclusion
		r.UpdatedAt = stamp(j.Completed)
	}
	return r
}

func (s *Server) jobJSON(j Job) jobJSON {
	id := strconv.FormatInt(j.ID, 10)
	out := jobJSON{ID: j.ID, RunID: j.RunID, RunURL: s.URL + "/repos/" + j.Repo + "/actions/runs/" + strconv.FormatInt(j.RunID, 10),
		RunAttempt: 1, NodeID: "CR_" + id, HeadSHA: headSHA, HeadBranch: "main",
		URL: s.URL + "/repos/" + j.Repo + "/actions/jobs/" + id, HTMLURL: "https://github.com/" + j.Repo + "/runs/" + id,
		Status: j.Status, CreatedAt: stamp(j.Created), StartedAt: stamp(j.Created), Name: j.Name, Steps: []stepJSON{},
		CheckRunURL: s.URL + "/repos/" + j.Repo + "/check-runs/" + id, Labels: j.Labels, WorkflowName: "CI"}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	if j.Status != "queued" {
		group, groupName := int64(1), "Default"
		out.RunnerID, out.RunnerName, out.RunnerGroupID, out.RunnerGroupName = &j.RunnerID, &j.RunnerName, &group, &groupName
		out.StartedAt = stamp(j.Started)
		out.Steps = []stepJSON{{Name: "Set up job", Status: "completed", Number: 1}}
	}
	if j.Status == "completed" {
		c := stamp(j.Completed)
		out.Conclusion, out.CompletedAt = &j.Conclusion, &c
	}
	return out
}

// page applies page/per_page (default 30, max 100) and writes the Link
// header GitHub paginates with.
func page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int, ok bool) {
	q := r.URL.Query()
	per, pg := 30, 1
	if v := q.Get("per_page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			return 0, 0, false
		}
		per = min(p, 100)
	}
	if v := q.Get("page"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 {
			return 0, 0, false
		}
		pg = p
	}
	last := max(1, (n+per-1)/per)
	link := func(p int, rel string) string {
		v := r.URL.Query()
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf("<http://%s%s?%s>; rel=%q", r.Host, r.URL.Path, v.Encode(), rel)
	}
	var links []string
	if pg > 1 {
		links = append(links, link(pg-1, "prev"), link(1, "first"))
	}
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*per, n)
	return lo, min(lo+per, n), true
}

func (s *Server) repoJobs(repo string) ([]Job, bool) {
	s.mu.Lock()
	known := s.repos[repo]
	s.mu.Unlock()
	var out []Job
	for _, j := range s.Jobs() {
		if j.Repo == repo {
			out = append(out, j)
		}
	}
	return out, known
}

var statuses = map[string]bool{"": true, "queued": true, "in_progress": true, "completed": true}

// listRuns answers GET /repos/{owner}/{repo}/actions/runs, newest first.
func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, repo string) {
	jobs, known := s.repoJobs(repo)
	if !known {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	status := r.URL.Query().Get("status")
	if !statuses[status] {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: status")
		return
	}
	runs := []runJSON{}
	for i := len(jobs) - 1; i >= 0; i-- {
		if status == "" || jobs[i].Status == status {
			runs = append(runs, s.runJSON(jobs[i]))
		}
	}
	lo, hi, ok := page(w, r, len(runs))
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: page or per_page")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(runs), "workflow_runs": runs[lo:hi]})
}

// listJobs answers GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, repo, runID string) {
	jobs, _ := s.repoJobs(repo)
	var out []jobJSON
	for _, j := range jobs {
		if strconv.FormatInt(j.RunID, 10) == runID {
			out = append(out, s.jobJSON(j))
		}
	}
	if out == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	lo, hi, ok := page(w, r, len(out))
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: page or per_page")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(out), "jobs": out[lo:hi]})
}

// getJob answers GET /repos/{owner}/{repo}/actions/jobs/{job_id}.
func (s *Server) getJob(w http.ResponseWriter, repo, id string) {
	jobs, _ := s.repoJobs(repo)
	for _, j := range jobs {
		if strconv.FormatInt(j.ID, 10) == id {
			writeJSON(w, http.StatusOK, s.jobJSON(j))
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

// listOrgRepos answers GET /orgs/{org}/repos: an org-wide reconcile lists
// the org's repositories and then each one's queued runs, since GitHub has
// no org-wide run listing.
func (s *Server) listOrgRepos(w http.ResponseWriter, r *http.Request, org string) {
	s.mu.Lock()
	var names []string
	for repo := range s.repos {
		if owner, _, _ := strings.Cut(repo, "/"); owner == org {
			names = append(names, repo)
		}
	}
	s.mu.Unlock()
	if names == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	sort.Strings(names)
	lo, hi, ok := page(w, r, len(names))
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: page or per_page")
		return
	}
	out := []repoJSON{}
	for _, n := range names[lo:hi] {
		out = append(out, s.repoJSON(n))
	}
	writeJSON(w, http.StatusOK, out)
}
