package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	fakebk "github.com/spotter-dev/spotter/internal/fakeci/buildkite"
	"github.com/spotter-dev/spotter/sources"
)

const bkSigningCanary = "bk-signing-secret-CANARY-91c2"

// TestBuildkiteHookDrivesDemand: the fake's job events, in either mode,
// move the pool's demand; a replayed signed delivery is refused and a
// replayed token-mode one counts nothing twice; other queues are ignored.
func TestBuildkiteHookDrivesDemand(t *testing.T) {
	for name, mode := range map[string]fakebk.Mode{"signature": fakebk.Signature, "token": fakebk.Token} {
		t.Run(name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, backend string) {
				ss := newSourcesServer(t, backend)
				field := map[fakebk.Mode]string{fakebk.Signature: "webhookSigningSecret", fakebk.Token: "webhookToken"}[mode]
				ss.patch(t, `{"buildkite": {"`+field+`": "`+bkSigningCanary+`", "queue": "linux"}}`)
				bk := fakebk.Start(t, "unused")
				bk.SetWebhook(ss.srv.URL+"/hooks/"+ss.cap+"/buildkite", bkSigningCanary, mode)
				bk.AddAgent("linux", "a1")
				j, err := bk.ScheduleJob("linux", "app")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := bk.ScheduleJob("macos", "app"); err != nil {
					t.Fatal(err)
				}
				if got := ss.demand(t); got != [2]int{1, 0} {
					t.Fatalf("after scheduled: demand %v", got)
				}
				if _, err := bk.StartJob(j.ID, "a1"); err != nil {
					t.Fatal(err)
				}
				if got := ss.demand(t); got != [2]int{0, 1} {
					t.Fatalf("after started: demand %v", got)
				}
				d, err := bk.Replay(0) // the first job.scheduled
				want := map[fakebk.Mode]int{fakebk.Signature: http.StatusConflict, fakebk.Token: http.StatusOK}[mode]
				if err != nil || d.Status != want {
					t.Fatalf("replay = %d %v; want %d", d.Status, err, want)
				}
				if got := ss.demand(t); got != [2]int{0, 1} {
					t.Fatalf("after the replay: demand %v", got)
				}
				if _, err := bk.FinishJob(j.ID, 0); err != nil {
					t.Fatal(err)
				}
				if got := ss.demand(t); got != [2]int{0, 0} {
					t.Fatalf("after finished: demand %v", got)
				}
				if strings.Contains(ss.logs.String(), bkSigningCanary) || strings.Contains(ss.storeText(t), bkSigningCanary) {
					t.Fatal("the Buildkite secret is in the logs or the store")
				}
			})
		})
	}
}

// TestBuildkiteHookHostile: forged, stale, unsigned, mismatched and
// malformed deliveries are refused and change nothing.
func TestBuildkiteHookHostile(t *testing.T) {
	ss := newSourcesServer(t, "embedded")
	ss.patch(t, `{"buildkite": {"webhookSigningSecret": "`+bkSigningCanary+`", "queue": "linux"}}`)
	bk := fakebk.New("unused")
	job := fakebk.Job{ID: "0190a4b4-8f7e-4c1a-9a43-2f0d6e6d1f10", Queue: "linux", Pipeline: "app", State: "scheduled"}
	good, _ := json.Marshal(bk.JobPayload("job.scheduled", job))
	other, _ := json.Marshal(bk.JobPayload("job.scheduled", fakebk.Job{ID: job.ID, Queue: "macos", Pipeline: "app", State: "scheduled"}))
	now := time.Now()
	tests := map[string]struct {
		event, secret string
		at            time.Time
		mode          fakebk.Mode
		body          []byte
		hdr           []string
		status        int
		code, outcome string
	}{
		"wrong secret":          {"job.scheduled", "nope", now, fakebk.Signature, good, nil, 401, "signature_invalid", ""},
		"token mode instead":    {"job.scheduled", bkSigningCanary, now, fakebk.Token, good, nil, 401, "signature_invalid", ""},
		"six minutes old":       {"job.scheduled", bkSigningCanary, now.Add(-6 * time.Minute), fakebk.Signature, good, nil, 401, "signature_expired", ""},
		"event header mismatch": {"job.finished", bkSigningCanary, now, fakebk.Signature, good, nil, 400, "invalid_request", ""},
		"duplicate keys":        {"job.scheduled", bkSigningCanary, now, fakebk.Signature, append([]byte(`{"event": "job.finished", `), good[1:]...), nil, 400, "invalid_request", ""},
		"oversized":             {"job.scheduled", bkSigningCanary, now, fakebk.Signature, append(append([]byte(`{"pad": "`), bytes.Repeat([]byte("x"), 64<<10)...), good[1:]...), nil, 413, "body_too_large", ""},
		"other queue":           {"job.scheduled", bkSigningCanary, now, fakebk.Signature, other, nil, 200, "", sources.Ignored},
		"ping":                  {"ping", bkSigningCanary, now, fakebk.Signature, []byte(`{"event": "ping"}`), nil, 200, "", sources.Ignored},
		"form":                  {"job.scheduled", bkSigningCanary, now, fakebk.Signature, good, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
	}
	before := ss.demand(t)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ss.srv.URL+"/hooks/"+ss.cap+"/buildkite", bytes.NewReader(tt.body))
			fakebk.SignHeaders(req.Header, tt.mode, tt.secret, tt.event, tt.body, tt.at)
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.status || (tt.code != "" && body["error"] != tt.code) || (tt.outcome != "" && body["outcome"] != tt.outcome) {
				t.Fatalf("= %d %v; want %d %s%s", resp.StatusCode, body, tt.status, tt.code, tt.outcome)
			}
			if got := ss.demand(t); got != before {
				t.Fatalf("demand %v; want %v", got, before)
			}
		})
	}
}
