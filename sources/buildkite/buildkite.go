// Package buildkite reads Buildkite for a pool: job webhooks
// (job.scheduled, job.started, job.finished; Buildkite's job_events page)
// and the agent metrics API a scaler polls (GET <base>/metrics/queue,
// Authorization: Token <agent token>, as buildkite-agent-scaler does). It
// keeps no state and knows no server.
package buildkite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/jsonkeys"
)

// Event is what a pool needs of one job event.
type Event struct {
	Event string // job.scheduled, job.started, job.finished
	JobID string
	Queue string // from agent_query_rules; "" when none names one
	Agent string
}

type payload struct {
	Event string `json:"event"`
	Job   *struct {
		ID              string   `json:"id"`
		AgentQueryRules []string `json:"agent_query_rules"`
		Agent           *struct {
			Name string `json:"name"`
		} `json:"agent"`
	} `json:"job"`
}

// ParseJobEvent reads a job event's body (already authenticated).
func ParseJobEvent(body []byte) (Event, error) {
	var p payload
	if err := jsonkeys.Check(body, &p); err != nil {
		return Event{}, apperr.New(apperr.Invalid, "the job event: %s", err.Error())
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&p); err != nil {
		return Event{}, apperr.New(apperr.Invalid, "the job event is not the JSON Buildkite sends")
	}
	if p.Job == nil || p.Job.ID == "" || len(p.Job.ID) > 64 {
		return Event{}, apperr.New(apperr.Invalid, "job.id: missing or longer than 64")
	}
	ev := Event{Event: p.Event, JobID: p.Job.ID}
	for _, r := range p.Job.AgentQueryRules {
		if q, ok := strings.CutPrefix(r, "queue="); ok {
			ev.Queue = q
		}
	}
	if p.Job.Agent != nil {
		if len(p.Job.Agent.Name) > 256 {
			return Event{}, apperr.New(apperr.Invalid, "job.agent.name: longer than 256")
		}
		ev.Agent = p.Job.Agent.Name
	}
	return ev, nil
}

// Key is the job's id among a pool's tracked jobs.
func Key(id string) string { return "buildkite:" + id }

// Counts are one queue's numbers from the metrics API.
type Counts struct {
	Scheduled, Running, Idle int
}

// QueueCounts calls GET <base>/metrics/queue?name=<queue>.
func QueueCounts(ctx context.Context, hc *http.Client, base, agentToken, queue string) (Counts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics/queue?name="+url.QueryEscape(queue), nil)
	if err != nil {
		return Counts{}, err
	}
	req.Header.Set("Authorization", "Token "+agentToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Counts{}, fmt.Errorf("buildkite metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Counts{}, fmt.Errorf("buildkite metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Counts{}, fmt.Errorf("buildkite metrics: HTTP %d (check sources.buildkite.agentToken and queue)", resp.StatusCode)
	}
	var v struct {
		Agents struct {
			Idle int `json:"idle"`
		} `json:"agents"`
		Jobs struct {
			Scheduled int `json:"scheduled"`
			Running   int `json:"running"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Counts{}, fmt.Errorf("buildkite metrics: %w", err)
	}
	if v.Agents.Idle < 0 || v.Jobs.Scheduled < 0 || v.Jobs.Running < 0 {
		return Counts{}, fmt.Errorf("buildkite metrics: negative counts")
	}
	return Counts{Scheduled: v.Jobs.Scheduled, Running: v.Jobs.Running, Idle: v.Agents.Idle}, nil
}
