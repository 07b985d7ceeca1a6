package task

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/policy"
)

// A flood of refused tasks writes one audit event per kind and source and
// interval, then one with the count; Observe (the metrics) sees each.
func TestRefusalAuditFlood(t *testing.T) {
	const n = 2000
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	var logs bytes.Buffer
	audit := slog.New(slog.NewJSONHandler(&logs, nil))
	observed := map[string]int{}
	d := &Pipeline{Audit: audit, Refusals: NewRefusalLog(audit, time.Minute, clk.Now), Now: clk.Now,
		Observe: func(task, outcome string, _ Result) { observed[task+"/"+outcome]++ }}
	authed := Guarded{Source: "native", Client: "198.51.100.7", Token: capability.Token{Info: capability.Info{ID: "tok-1"}},
		Req: policy.Request{Task: "launch"}, start: t0}
	anon := Guarded{Source: "native", Client: "203.0.113.9", start: t0}
	for range n {
		d.refused(context.Background(), authed, apperr.New(apperr.PolicyDenied, "rule maxCount"))
		d.refused(context.Background(), anon, apperr.New(apperr.TokenInvalid, "not accepted"))
		d.refused(context.Background(), anon, &Notice{Text: "help"}) // help is not a refusal
	}
	if got := strings.Count(logs.String(), `"msg":"audit"`); got != 2 {
		t.Fatalf("audit events = %d; want 2:\n%s", got, logs.String())
	}
	if observed["launch/refused"] != n || observed["unknown/refused"] != n {
		t.Errorf("observed %v; want %d refused launches and %d refused unknown tasks", observed, n, n)
	}
	clk.Add(time.Minute)
	d.Refusals.tick() // as a task that runs does
	if !strings.Contains(logs.String(), `"suppressed":1999`) {
		t.Fatalf("no count after the interval:\n%s", logs.String())
	}
	d.Refusals.Flush() // nothing left to write
	for _, want := range []string{
		`"outcome":"refused","suppressed":1999,"since":"2026-11-30T12:00:00Z","source":"native","error":"policy_denied","token_id":"tok-1"`,
		`"outcome":"refused","suppressed":1999,"since":"2026-11-30T12:00:00Z","source":"native","error":"token_invalid","client":"203.0.113.9"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 4 {
		t.Errorf("%d log lines for %d refusals; want 4", lines, 2*n)
	}
}
