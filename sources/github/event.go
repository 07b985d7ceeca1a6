// Package github reads GitHub Actions for a pool: the workflow_job
// webhook payload (octokit/webhooks' schema) and the REST API calls that
// list a repository's queued jobs, with GitHub's pagination and rate-limit
// headers. It keeps no state and knows no server.
package github

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/jsonkeys"
)

// Event is what a pool needs of one workflow_job delivery.
type Event struct {
	Action     string // queued, in_progress, completed, waiting
	JobID      int64
	Repo       string // owner/name
	Labels     []string
	RunnerName string
}

type payload struct {
	Action      string `json:"action"`
	WorkflowJob *struct {
		ID         int64    `json:"id"`
		Labels     []string `json:"labels"`
		RunnerName *string  `json:"runner_name"`
	} `json:"workflow_job"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// RepoRe is a repository's owner/name as GitHub allows them; the name
// goes into API paths, so nothing else is taken.
var RepoRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$`)

// MaxRunnerName bounds a runner's name as stored (GitHub allows 64).
const MaxRunnerName = 256

// MaxLabels bounds the labels read from one job (GitHub's runs-on takes
// far fewer); a job with more matches no pool.
const MaxLabels = 100

// ParseWorkflowJob reads a workflow_job body. The caller has checked its
// signature; what is malformed here is an Invalid naming the field.
func ParseWorkflowJob(body []byte) (Event, error) {
	var p payload
	if err := jsonkeys.Check(body, &p); err != nil {
		// A repeated key would let two readers of one signed body see
		// two different jobs; GitHub never sends one.
		return Event{}, apperr.New(apperr.Invalid, "the workflow_job payload: %s", short(err.Error()))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return Event{}, apperr.New(apperr.Invalid, "the workflow_job payload is not JSON GitHub sends: %s", short(err.Error()))
	}
	switch {
	case p.WorkflowJob == nil:
		return Event{}, apperr.New(apperr.Invalid, "workflow_job: missing from the payload")
	case p.WorkflowJob.ID <= 0:
		return Event{}, apperr.New(apperr.Invalid, "workflow_job.id: missing or not a positive integer")
	case p.Repository == nil || !RepoRe.MatchString(p.Repository.FullName):
		return Event{}, apperr.New(apperr.Invalid, "repository.full_name: missing or not owner/name")
	case p.WorkflowJob.RunnerName != nil && len(*p.WorkflowJob.RunnerName) > MaxRunnerName:
		return Event{}, apperr.New(apperr.Invalid, "workflow_job.runner_name: longer than %d", MaxRunnerName)
	case len(p.WorkflowJob.Labels) > MaxLabels:
		return Event{}, apperr.New(apperr.Invalid, "workflow_job.labels: more than %d labels", MaxLabels)
	}
	ev := Event{Action: p.Action, JobID: p.WorkflowJob.ID, Repo: p.Repository.FullName, Labels: p.WorkflowJob.Labels}
	if p.WorkflowJob.RunnerName != nil {
		ev.RunnerName = *p.WorkflowJob.RunnerName
	}
	return ev, nil
}

// Key is the job's id among a pool's tracked jobs.
func Key(id int64) string { return fmt.Sprintf("github:%d", id) }

// LabelsWithin reports whether every label of the job is one of the
// pool's (GitHub compares runs-on labels without case); a job with no
// labels is no pool's.
func LabelsWithin(job, pool []string) bool {
	if len(job) == 0 {
		return false
	}
	for _, l := range job {
		found := false
		for _, p := range pool {
			if strings.EqualFold(l, p) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
