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
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/task"
)

// A Slack task that panics in the background tells the person, with the
// request id, as any other internal error. The pipeline's Tokens is nil,
// so the task panics where it first reads the credentials.
func TestSlackTaskPanicTellsThePerson(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	d := TaskDeps{Pipeline: &task.Pipeline{Audit: log, Log: log}, Sources: SourceConfig{Log: log}}
	g := task.Guarded{RequestID: "req-panic", Token: capability.Token{Info: capability.Info{ID: "tok-1"}},
		Task: task.Task{TaskRequest: api.TaskRequest{Task: "status"}}, Req: policy.Request{Task: "status"}, Region: "us-east-1"}
	msg := d.slackResult(context.Background(), g)
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
