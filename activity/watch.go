package activity

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/spot"
)

// ReaperWatch turns a reaper's callbacks into the console's records: each
// pass's per-token usage charges spend and, with the pass itself, becomes
// the last pass every replica shows.
type ReaperWatch struct {
	a       *Activity
	maxGap  time.Duration
	replica string
	// Pools, if set, lists the pools whose capacity each pass samples.
	Pools func(ctx context.Context) ([]pools.Record, error)

	mu     sync.Mutex // guards tokens
	tokens map[string]Running
}

// WatchReaper returns the watch of a reaper that passes every interval: a
// gap of more than three intervals between two samples is not charged.
func (a *Activity) WatchReaper(interval time.Duration) *ReaperWatch {
	host, _ := os.Hostname()
	return &ReaperWatch{a: a, maxGap: 3 * interval, replica: host, tokens: map[string]Running{}}
}

// Usage is the reaper's Usage callback: called for each token at the end
// of a pass, before Report.
func (w *ReaperWatch) Usage(tokenID string, u spot.Usage) {
	now := w.a.now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.a.Charge(ctx, tokenID, u.HourlySpend, now, w.maxGap); err != nil {
		w.a.log.Warn("activity: charge spend", "token_id", tokenID, "error", err)
	}
	w.mu.Lock()
	w.tokens[tokenID] = Running{Running: u.Running, HourlyCost: u.HourlySpend}
	w.mu.Unlock()
}

// Report is the reaper's Report callback.
func (w *ReaperWatch) Report(r reaper.PassReport) {
	w.mu.Lock()
	tokens := w.tokens
	w.tokens = map[string]Running{}
	w.mu.Unlock()
	p := Pass{Start: r.Start.UTC(), End: r.End.UTC(), Replica: w.replica, Accounts: r.Accounts, Failed: r.Failed,
		Counts: map[string]int{}, Actions: r.Actions, Tokens: tokens}
	if r.Err != nil {
		// The code and the details meant for people; the log has the rest.
		p.Error = apperr.Code(r.Err)
		if d := apperr.Details(r.Err); d != "" {
			p.Error += ": " + d
		}
	}
	for _, act := range r.Actions {
		p.Counts[act.Action+" "+act.Reason]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.a.SavePass(ctx, p); err != nil {
		w.a.log.Warn("activity: keep the reaper's pass", "error", err)
	}
	w.samplePools(ctx, r.End)
}

// samplePools keeps each pool's capacity at the end of a pass, so the
// console can draw the last 24 hours.
func (w *ReaperWatch) samplePools(ctx context.Context, now time.Time) {
	if w.Pools == nil {
		return
	}
	recs, err := w.Pools(ctx)
	if err != nil {
		w.a.log.Warn("activity: list pools to sample", "error", err)
		return
	}
	for _, rec := range recs {
		c := rec.Counts(now)
		s := PoolSample{At: now, Desired: c.Desired, Running: c.Running, Pending: c.Pending}
		if err := w.a.SamplePool(ctx, rec.Pool.Name, s); err != nil {
			w.a.log.Warn("activity: sample a pool", "pool", rec.Pool.Name, "error", err)
		}
	}
}
