package github

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

func TestParseWorkflowJob(t *testing.T) {
	labels := func(n int) string {
		return `[` + strings.TrimSuffix(strings.Repeat(`"l",`, n), ",") + `]`
	}
	body := func(job string) []byte {
		return []byte(`{"action": "in_progress", "workflow_job": ` + job + `, "repository": {"full_name": "octo/app"}}`)
	}
	tests := map[string]struct {
		body   []byte
		want   Event
		errHas string
	}{
		"in progress":          {body(`{"id": 4000000001, "labels": ["linux"], "runner_name": "i-0abc"}`), Event{Action: "in_progress", JobID: 4000000001, Repo: "octo/app", Labels: []string{"linux"}, RunnerName: "i-0abc"}, ""},
		"queued, null runner":  {body(`{"id": 7, "labels": [], "runner_name": null}`), Event{Action: "in_progress", JobID: 7, Repo: "octo/app", Labels: []string{}}, ""},
		"labels at max":        {body(`{"id": 7, "labels": ` + labels(MaxLabels) + `}`), Event{}, ""},
		"labels past max":      {body(`{"id": 7, "labels": ` + labels(MaxLabels+1) + `}`), Event{}, "workflow_job.labels"},
		"no job":               {[]byte(`{"action": "queued", "repository": {"full_name": "octo/app"}}`), Event{}, "workflow_job:"},
		"id zero":              {body(`{"id": 0}`), Event{}, "workflow_job.id"},
		"id string":            {body(`{"id": "7"}`), Event{}, "not JSON GitHub sends"},
		"repository path":      {[]byte(`{"action": "queued", "workflow_job": {"id": 7}, "repository": {"full_name": "octo/../../orgs/x"}}`), Event{}, "repository.full_name"},
		"runner name at max":   {body(`{"id": 7, "runner_name": "` + strings.Repeat("r", MaxRunnerName) + `"}`), Event{}, ""},
		"runner name past max": {body(`{"id": 7, "runner_name": "` + strings.Repeat("r", MaxRunnerName+1) + `"}`), Event{}, "runner_name"},
		"no repository":        {[]byte(`{"action": "queued", "workflow_job": {"id": 7}}`), Event{}, "repository.full_name"},
		"repeated id":          {body(`{"id": 7, "id": 8}`), Event{}, `key "id" appears twice`},
		"not an object":        {[]byte(`[1]`), Event{}, "workflow_job payload"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWorkflowJob(tt.body)
			if tt.errHas != "" {
				if apperr.Code(err) != apperr.Invalid || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v; want invalid with %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.Action != "" && (got.Action != tt.want.Action || got.JobID != tt.want.JobID || got.Repo != tt.want.Repo ||
				got.RunnerName != tt.want.RunnerName || strings.Join(got.Labels, ",") != strings.Join(tt.want.Labels, ",")) {
				t.Fatalf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestLabelsWithin(t *testing.T) {
	pool := []string{"self-hosted", "linux", "x64"}
	tests := map[string]struct {
		job  []string
		want bool
	}{
		"all":           {[]string{"self-hosted", "linux", "x64"}, true},
		"some":          {[]string{"linux"}, true},
		"other case":    {[]string{"Self-Hosted", "LINUX"}, true},
		"one not":       {[]string{"linux", "gpu"}, false},
		"none":          {nil, false},
		"github-hosted": {[]string{"ubuntu-latest"}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := LabelsWithin(tt.job, pool); got != tt.want {
				t.Fatalf("LabelsWithin(%v) = %v", tt.job, got)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	tests := map[string]struct{ header, want string }{
		"next and last": {`<https://api.github.com/repositories/1/actions/runs?page=2&per_page=100>; rel="next", <https://api.github.com/repositories/1/actions/runs?page=3&per_page=100>; rel="last"`, "https://api.github.com/repositories/1/actions/runs?page=2&per_page=100"},
		"last page":     {`<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first"`, ""},
		"none":          {"", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := nextLink(tt.header); got != tt.want {
				t.Fatalf("nextLink = %q; want %q", got, tt.want)
			}
		})
	}
}
