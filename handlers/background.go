package handlers

import (
	"context"
	"sync"
)

// Background tracks work that goes on after its request has been answered
// (a Slack task past Slack's 3 s, and the post of its result), so that
// shutdown can let it finish instead of cutting a launch off between
// CreateFleet and the message that tells the channel about it.
type Background struct {
	wg sync.WaitGroup
}

// Go runs f in the background; a nil Background runs it untracked.
func (b *Background) Go(f func()) {
	if b == nil {
		go f()
		return
	}
	b.wg.Go(f)
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
