package handlers

import (
	"context"
	"log/slog"
	"sync"

	"github.com/spotter-dev/spotter/internal/safe"
)

// Background tracks work that goes on after its request has been answered
// (a Slack task past Slack's 3 s, and the post of its result), so that
// shutdown can let it finish instead of cutting a launch off between
// CreateFleet and the message that tells the channel about it.
type Background struct {
	// Log receives a job's panic, with its stack; nil is slog's default.
	Log *slog.Logger
	wg  sync.WaitGroup
}

// Go runs f in the background; a nil Background runs it untracked. A panic
// in f is logged, never fatal: the process serves every other request.
func (b *Background) Go(f func()) {
	var log *slog.Logger
	if b != nil {
		log = b.Log
	}
	job := func() { _ = safe.Run(context.Background(), log, "background job", f) }
	if b == nil {
		go job()
		return
	}
	b.wg.Go(job)
}

// Wait waits for every job, or until ctx ends; it reports whether all
// finished.
func (b *Background) Wait(ctx context.Context) bool {
	if b == nil {
		return true
	}
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
