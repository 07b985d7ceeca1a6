// Package casretry is the wait between check-and-set attempts that lost
// to another writer: short, growing, and at random (full jitter), so the
// writers that collided do not collide again in step.
package casretry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Cap bounds one wait: losers of a check-and-set retry within a store
// round trip or two, not after seconds.
const Cap = 64 * time.Millisecond

// Max is the longest wait before attempt: 0 for the first, then 1 ms
// doubling up to Cap.
func Max(attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	return min(time.Millisecond<<min(attempt-1, 16), Cap)
}

// Wait sleeps a random time in [0, Max(attempt)) or until ctx ends.
func Wait(ctx context.Context, attempt int) error {
	m := Max(attempt)
	if m <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(rand.N(m))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
