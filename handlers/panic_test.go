package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
)

// panicking returns a guarded status task and deps whose Tokens is nil, so
// running the task panics where it first reads the credentials.
func panicking(logs *bytes.Buffer) (TaskDeps, guarded) {
	log := slog.New(slog.NewJSONHandler(logs, nil))
	d := TaskDeps{Audit: log, Sources: SourceConfig{Log: log}}
	g := guarded{requestID: "req-panic", tok: capability.Token{Info: capability.Info{ID: "tok-1"}},
		task: Task{TaskRequest: api.TaskRequest{Task: "status"}}, req: policy.Request{Task: "status"}, region: "us-east-1"}
	return d, g
}

// A task that panics is an internal error, audited as failed, with the
// stack in the log; the process goes on.
func TestTaskPanicIsAnInternalError(t *testing.T) {
	var logs bytes.Buffer
	d, g := panicking(&logs)
	res, err := d.execute(context.Background(), g, time.Now())
	if apperr.Code(err) != apperr.Internal || res != (Result{}) {
		t.Fatalf("execute = %+v, %v; want internal_error", res, err)
	}
	for _, want := range []string{`"msg":"task panicked"`, `"request_id":"req-panic"`, `"stack":"goroutine`, `"outcome":"failed"`, `"error":"internal_error"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// A Slack task that panics in the background tells the person, with the
// request id, as any other internal error.
func TestSlackTaskPanicTellsThePerson(t *testing.T) {
	var logs bytes.Buffer
	d, g := panicking(&logs)
	msg := d.slackResult(context.Background(), g, time.Now())
	if !strings.Contains(msg.Text, "went wrong") || !strings.Contains(msg.Text, "req-panic") {
		t.Fatalf("slack message %+v; want the internal-error notice with the request id", msg)
	}
}

// A background job that panics is logged and counted done: Wait returns.
func TestBackgroundJobPanic(t *testing.T) {
	var logs syncBuf
	bg := &Background{Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	bg.Go(func() { panic("boom") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !bg.Wait(ctx) {
		t.Fatal("Wait timed out after a panicking job")
	}
	if !strings.Contains(logs.String(), `"msg":"background job panicked"`) || !strings.Contains(logs.String(), `"panic":"boom"`) {
		t.Errorf("log %q; want the panic", logs.String())
	}
}

// syncBuf is a bytes.Buffer safe for a background job's writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
