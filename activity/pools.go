package activity

import (
	"context"
	"time"
)

// poolPrefix is where each pool's capacity samples are kept.
const poolPrefix = "activity/pools/"

// PoolWindow is how far back pool samples are kept; PoolStep is their
// spacing: one sample per step (the last in it wins), 144 a day.
const (
	PoolWindow = 24 * time.Hour
	PoolStep   = 10 * time.Minute
)

// PoolSample is one pool's capacity at one moment, in capacity units:
// what it aims at, the jobs running, the jobs waiting.
type PoolSample struct {
	At      time.Time `json:"at"`
	Desired int       `json:"desired"`
	Running int       `json:"running"`
	Pending int       `json:"pending"`
}

// SamplePool keeps s in the pool's series: it replaces the last sample
// when both fall in one PoolStep, and drops samples older than
// PoolWindow. Any replica may sample; the series is one record under
// check-and-set.
func (a *Activity) SamplePool(ctx context.Context, name string, s PoolSample) error {
	s.At = s.At.UTC()
	return update(ctx, a.store, poolPrefix+name, func(series *[]PoolSample) {
		out := *series
		if n := len(out); n > 0 && out[n-1].At.Truncate(PoolStep).Equal(s.At.Truncate(PoolStep)) {
			out = out[:n-1]
		}
		out = append(out, s)
		cut := 0
		for cut < len(out) && s.At.Sub(out[cut].At) > PoolWindow {
			cut++
		}
		*series = out[cut:]
	})
}

// PoolSeries returns the pool's samples, oldest first.
func (a *Activity) PoolSeries(ctx context.Context, name string) ([]PoolSample, error) {
	var s []PoolSample
	_, err := read(ctx, a.store, poolPrefix+name, &s)
	return s, err
}
