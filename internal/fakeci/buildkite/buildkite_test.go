package buildkite_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/fakeci/buildkite"
	"github.com/spotter-dev/spotter/token"
)

const agentToken = "bkct_fakeAgentToken000000"

func get(t *testing.T, url, auth string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("User-Agent", "buildkite-agent-scaler/test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestMetricsAuth(t *testing.T) {
	s := buildkite.Start(t, agentToken)
	tests := []struct {
		name, auth string
		want       int
	}{
		{name: "agent token", auth: "Token " + agentToken, want: 200},
		{name: "missing", auth: "", want: 401},
		{name: "bearer scheme", auth: "Bearer " + agentToken, want: 401},
		{name: "wrong token", auth: "Token bkct_other", want: 401},
		{name: "empty token", auth: "Token ", want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := get(t, s.URL+"/metrics", tt.auth); resp.StatusCode != tt.want {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.want, body)
			}
		})
	}
	if s.Calls() != 1 {
		t.Fatalf("calls %d; want 1", s.Calls())
	}
}

type counts struct {
	Idle, Busy, Total           int
	Scheduled, Running, Waiting int
}

type metrics struct {
	Agents struct {
		counts
		Queues map[string]counts `json:"queues"`
	} `json:"agents"`
	Jobs struct {
		counts
		Queues map[string]counts `json:"queues"`
	} `json:"jobs"`
	Organization struct {
		Slug string `json:"slug"`
	} `json:"organization"`
}

type queueMetrics struct {
	Agents       counts `json:"agents"`
	Jobs         counts `json:"jobs"`
	Organization struct {
		Slug string `json:"slug"`
	} `json:"organization"`
	Cluster struct {
		Name string `json:"name"`
	} `json:"cluster"`
}

func TestMetricsFollowJobs(t *testing.T) {
	s := buildkite.Start(t, agentToken)
	s.PollSeconds = 15
	read := func() (metrics, queueMetrics) {
		resp, body := get(t, s.URL+"/metrics", "Token "+agentToken)
		var m metrics
		if resp.StatusCode != 200 || json.Unmarshal(body, &m) != nil {
			t.Fatalf("metrics %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("Buildkite-Agent-Metrics-Poll-Duration") != "15" {
			t.Fatalf("poll header %q", resp.Header.Get("Buildkite-Agent-Metrics-Poll-Duration"))
		}
		resp, body = get(t, s.URL+"/metrics/queue?name=spot", "Token "+agentToken)
		var q queueMetrics
		if resp.StatusCode != 200 || json.Unmarshal(body, &q) != nil || q.Organization.Slug != "acme" || q.Cluster.Name == "" {
			t.Fatalf("queue metrics %d %s", resp.StatusCode, body)
		}
		return m, q
	}
	j1, _ := s.ScheduleJob("spot", "app")
	j2, _ := s.ScheduleJob("spot", "app")
	if _, err := s.ScheduleJob("other", "app"); err != nil {
		t.Fatal(err)
	}
	m, q := read()
	if q.Jobs.Scheduled != 2 || q.Jobs.Total != 2 || q.Agents.Total != 0 || m.Jobs.Scheduled != 3 || m.Jobs.Queues["other"].Scheduled != 1 || m.Organization.Slug != "acme" {
		t.Fatalf("after scheduling: %+v %+v", m, q)
	}
	s.AddAgent("spot", "i-0aaa-1")
	s.AddAgent("spot", "i-0bbb-1")
	if _, err := s.StartJob(j1.ID, "i-0aaa-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartJob(j2.ID, "i-0aaa-1"); err == nil {
		t.Fatal("a busy agent took a second job")
	}
	_, q = read()
	if q.Jobs.Scheduled != 1 || q.Jobs.Running != 1 || q.Agents.Busy != 1 || q.Agents.Idle != 1 || q.Agents.Total != 2 {
		t.Fatalf("after start: %+v", q)
	}
	if _, err := s.FinishJob(j1.ID, 0); err != nil {
		t.Fatal(err)
	}
	s.RemoveAgent("i-0bbb-1")
	m, q = read()
	if q.Jobs.Running != 0 || q.Jobs.Total != 1 || q.Agents.Idle != 1 || q.Agents.Busy != 0 || m.Agents.Queues["spot"].Total != 1 {
		t.Fatalf("after finish: %+v %+v", m, q)
	}
	if resp, _ := get(t, s.URL+"/metrics/queue", "Token "+agentToken); resp.StatusCode != 422 {
		t.Fatalf("queue without name: %d", resp.StatusCode)
	}
}

// receiver checks deliveries with spotter's verifiers and refuses replays.
type receiver struct {
	mu     sync.Mutex
	secret string
	now    time.Time
	seen   map[string]bool
	events []string
	codes  []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	fail := func(err error) {
		rc.codes = append(rc.codes, apperr.Code(err))
		http.Error(w, apperr.Code(err), http.StatusUnauthorized)
	}
	if sig := r.Header.Get(token.BuildkiteSignatureHeader); sig != "" {
		n, err := token.VerifyBuildkiteSignature([]byte(rc.secret), sig, body, rc.now, 0)
		if err != nil {
			fail(err)
			return
		}
		if rc.seen[n.ID] {
			fail(apperr.New(apperr.Conflict, "replayed"))
			return
		}
		rc.seen[n.ID] = true
	} else if err := token.VerifyBuildkiteToken([]byte(rc.secret), r.Header.Get(token.BuildkiteTokenHeader)); err != nil {
		fail(err)
		return
	}
	if r.Header.Get("X-Buildkite-Event") == "ping" {
		rc.events = append(rc.events, "ping")
		return
	}
	var p struct {
		Event string `json:"event"`
		Job   struct {
			ID    string   `json:"id"`
			State string   `json:"state"`
			Rules []string `json:"agent_query_rules"`
		} `json:"job"`
	}
	if json.Unmarshal(body, &p) != nil || p.Event != r.Header.Get("X-Buildkite-Event") || p.Job.ID == "" || len(p.Job.Rules) != 1 {
		http.Error(w, "payload", http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, p.Event+":"+p.Job.State+":"+p.Job.Rules[0])
}

func TestWebhooksSigned(t *testing.T) {
	const secret = "bk-webhook-token"
	at := time.Unix(1764547200, 0)
	rc := &receiver{secret: secret, now: at, seen: map[string]bool{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := buildkite.Start(t, agentToken)
	s.SetClock(func() time.Time { return at })
	s.SetWebhook(hook.URL, secret, buildkite.Signature)
	s.AddAgent("spot", "i-0aaa-1")
	j, err := s.ScheduleJob("spot", "app")
	if err == nil {
		_, err = s.StartJob(j.ID, "i-0aaa-1")
	}
	if err == nil {
		_, err = s.FinishJob(j.ID, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "job.scheduled:scheduled:queue=spot job.started:running:queue=spot job.finished:failed:queue=spot"
	if got := strings.Join(rc.events, " "); got != want {
		t.Fatalf("events %q; want %q", got, want)
	}
	if d := s.Deliveries()[0]; d.Header.Get("X-Buildkite-Token") != "" || !strings.HasPrefix(d.Header.Get("X-Buildkite-Signature"), "timestamp=1764547200,signature=") {
		t.Fatalf("signed mode headers %v", d.Header)
	}
	// A captured delivery sent again inside the window is refused by nonce.
	if d, _ := s.Replay(0); d.Status != http.StatusUnauthorized {
		t.Fatalf("replay: %d", d.Status)
	}
	// At the window limit a new delivery passes; one second past it fails.
	rc.now = at.Add(token.DefaultWindow)
	if _, err := s.ScheduleJob("spot", "app"); err != nil {
		t.Fatalf("at the window: %v", err)
	}
	rc.now = at.Add(token.DefaultWindow + time.Second)
	if _, err := s.ScheduleJob("spot", "app"); err == nil {
		t.Fatal("one second past the window was accepted")
	}
	if got := strings.Join(rc.codes, " "); got != apperr.Conflict+" "+apperr.SignatureExpired {
		t.Fatalf("refusals %q", got)
	}
}

func TestWebhooksTokenMode(t *testing.T) {
	const secret = "bk-webhook-token"
	rc := &receiver{secret: secret, seen: map[string]bool{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := buildkite.Start(t, agentToken)
	s.SetWebhook(hook.URL, secret, buildkite.Token)
	if _, err := s.ScheduleJob("spot", "app"); err != nil {
		t.Fatal(err)
	}
	if d := s.Deliveries()[0]; d.Header.Get("X-Buildkite-Token") != secret || d.Header.Get("X-Buildkite-Signature") != "" {
		t.Fatalf("token mode headers %v", d.Header)
	}
	if d, err := s.Ping(); err != nil || d.Status != 200 || rc.events[len(rc.events)-1] != "ping" {
		t.Fatalf("ping: %+v %v", d, err)
	}
	s.SetWebhook(hook.URL, "wrong-token", buildkite.Token)
	if _, err := s.ScheduleJob("spot", "app"); err == nil {
		t.Fatal("a wrong webhook token was accepted")
	}
	if len(rc.events) != 2 {
		t.Fatalf("events %v", rc.events)
	}
}
