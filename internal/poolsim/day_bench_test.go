package poolsim

import (
	"context"
	"testing"
)

// BenchmarkPoolsDay runs seed 1's CI day through spotter and each ancestor. One op is
// the whole day (ns/op is its wall time); the day's figures are reported
// as metrics: × floor and the p95 wait in seconds.
func BenchmarkPoolsDay(b *testing.B) {
	cfg := DefaultConfig(1)
	jobs := Generate(cfg.Trace)
	for _, mk := range []func() Controller{
		func() Controller { return NewSpotter(200) },
		func() Controller { return NewTaskclusterWM(200) },
		func() Controller { return NewBuildkiteElastic(200, 1) },
		func() Controller { return NewGitHubEphemeral(200) },
	} {
		b.Run(mk().Name(), func(b *testing.B) {
			var row Row
			for b.Loop() {
				r, err := Run(context.Background(), cfg, jobs, mk())
				if err != nil {
					b.Fatal(err)
				}
				row = r.Summarize()
			}
			b.ReportMetric(row.Dollars/row.Floor, "x-floor")
			b.ReportMetric(row.P95.Seconds(), "p95-wait-s")
		})
	}
}
