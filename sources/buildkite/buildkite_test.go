package buildkite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

func TestParseJobEvent(t *testing.T) {
	tests := map[string]struct {
		body   string
		want   Event
		errHas string
	}{
		"scheduled":  {`{"event": "job.scheduled", "job": {"id": "j1", "agent_query_rules": ["queue=linux"], "agent": null}}`, Event{Event: "job.scheduled", JobID: "j1", Queue: "linux"}, ""},
		"started":    {`{"event": "job.started", "job": {"id": "j1", "agent_query_rules": ["os=linux", "queue=linux"], "agent": {"name": "a1"}}}`, Event{Event: "job.started", JobID: "j1", Queue: "linux", Agent: "a1"}, ""},
		"no queue":   {`{"event": "job.scheduled", "job": {"id": "j1", "agent_query_rules": []}}`, Event{Event: "job.scheduled", JobID: "j1"}, ""},
		"no job":     {`{"event": "job.scheduled"}`, Event{}, "job.id"},
		"long id":    {`{"event": "job.scheduled", "job": {"id": "` + strings.Repeat("x", 65) + `"}}`, Event{}, "job.id"},
		"id at 64":   {`{"event": "job.scheduled", "job": {"id": "` + strings.Repeat("x", 64) + `"}}`, Event{Event: "job.scheduled", JobID: strings.Repeat("x", 64)}, ""},
		"long agent": {`{"event": "job.started", "job": {"id": "j1", "agent": {"name": "` + strings.Repeat("a", 257) + `"}}}`, Event{}, "job.agent.name"},
		"repeated":   {`{"event": "job.scheduled", "job": {"id": "j1", "id": "j2"}}`, Event{}, `"id" appears twice`},
		"not json":   {`{"event": `, Event{}, "not the JSON"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseJobEvent([]byte(tt.body))
			if tt.errHas != "" {
				if apperr.Code(err) != apperr.Invalid || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v; want invalid with %q", err, tt.errHas)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestQueueCountsRefusals(t *testing.T) {
	tests := map[string]struct {
		status int
		body   string
		errHas string
	}{
		"ok":       {200, `{"agents": {"idle": 2}, "jobs": {"scheduled": 3, "running": 1}}`, ""},
		"401":      {401, `{"message": "Invalid token"}`, "HTTP 401"},
		"negative": {200, `{"agents": {"idle": -1}, "jobs": {}}`, "negative"},
		"not json": {200, `<html>`, "buildkite metrics"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Token tok" || r.URL.Path != "/v3/metrics/queue" || r.URL.Query().Get("name") != "linux ci" {
					w.WriteHeader(400)
					return
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := QueueCounts(context.Background(), srv.Client(), srv.URL+"/v3/", "tok", "linux ci")
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v; want %q", err, tt.errHas)
				}
				return
			}
			if err != nil || c != (Counts{Scheduled: 3, Running: 1, Idle: 2}) {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
}
