// Package safe turns a panic in work that runs apart from its request (a
// background job, a goroutine a handler starts, the reaper's pass) into a
// logged error, so one bad task cannot take down the process and every
// request other replicas or goroutines are serving.
package safe

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/spotter-dev/spotter/apperr"
)

// PanicError is a recovered panic, as an error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Recover, deferred, turns a panic into an internal_error (wrapping a
// *PanicError) in *err and logs it with its stack under what. A nil log
// logs to slog's default.
//
//	defer safe.Recover(ctx, log, "reaper pass", &err)
func Recover(ctx context.Context, log *slog.Logger, what string, err *error, attrs ...any) {
	r := recover()
	if r == nil {
		return
	}
	pe := &PanicError{Value: r, Stack: debug.Stack()}
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(ctx, what+" panicked", append(attrs, "panic", fmt.Sprint(r), "stack", string(pe.Stack))...)
	if err != nil {
		*err = apperr.Wrap(pe, apperr.Internal, "")
	}
}

// Run runs f; a panic in f is logged and reported as an error.
func Run(ctx context.Context, log *slog.Logger, what string, f func()) (err error) {
	defer Recover(ctx, log, what, &err)
	f()
	return nil
}
