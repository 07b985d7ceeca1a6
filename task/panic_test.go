package task

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
)

// panicking returns a guarded status task and a pipeline whose Tokens is
// nil, so running the task panics where it first reads the credentials.
func panicking(logs *bytes.Buffer) (*Pipeline, Guarded) {
	log := slog.New(slog.NewJSONHandler(logs, nil))
	p := &Pipeline{Audit: log, Log: log}
	g := Guarded{RequestID: "req-panic", Token: capability.Token{Info: capability.Info{ID: "tok-1"}},
		Task: Task{TaskRequest: api.TaskRequest{Task: "status"}}, Req: policy.Request{Task: "status"}, Region: "us-east-1"}
	return p, g
}

// A task that panics is an internal error, audited as failed, with the
// stack in the log; the process goes on.
func TestTaskPanicIsAnInternalError(t *testing.T) {
	var logs bytes.Buffer
	p, g := panicking(&logs)
	res, err := p.Execute(context.Background(), g)
	if apperr.Code(err) != apperr.Internal || res != (Result{}) {
		t.Fatalf("Execute = %+v, %v; want internal_error", res, err)
	}
	for _, want := range []string{`"msg":"task panicked"`, `"request_id":"req-panic"`, `"stack":"goroutine`, `"outcome":"failed"`, `"error":"internal_error"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
