package spot

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkLaunch measures launches per second through spot and the real
// SDK into awssim over loopback HTTP: one instance per launch, each with
// its own idempotency key, from parallel goroutines as concurrent webhook
// requests would be. It reports AWS calls per launch as well.
//
//	go test -run '^$' -bench Launch -benchtime 3s ./spot/
func BenchmarkLaunch(b *testing.B) {
	e := mustEnv(b)
	if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	base := e.spec("tokBench", "warm", 1)
	e.mustLaunch(b, base) // the launch template exists from here on
	var n atomic.Int64
	calls := func() int {
		e.mu.Lock()
		defer e.mu.Unlock()
		t := 0
		for _, v := range e.calls {
			t += v
		}
		return t
	}
	before := calls()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := e.specWith("tokBench", strconv.FormatInt(n.Add(1), 10), base)
			if _, err := e.client.Launch(context.Background(), s); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
	b.ReportMetric(float64(calls()-before)/float64(b.N), "calls/launch")
}

// BenchmarkReplay measures a retried launch: the idempotency lookup alone.
func BenchmarkReplay(b *testing.B) {
	e := mustEnv(b)
	s := e.spec("tokBench", "same", 1)
	e.mustLaunch(b, s)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := e.client.Launch(context.Background(), s); err != nil || !res.Replayed {
				b.Errorf("replay = %v, %v", res.Replayed, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "replays/s")
}
