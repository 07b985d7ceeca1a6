package spot

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/inflight"
)

// BenchmarkLaunchWithLive is a launch as the task handler makes it (Admit
// through the in-memory ledger, settled when EC2 answers) for a token with
// 0 or 1,000 live instances, 8 launches at once: "listing" has Launch list
// and decode every live instance of the token for each launch (as before),
// "kept" has the ledger keep the token's count and list only when it must
// (AdmitCounts, inflight.AdmitListing). p50-ms is the median launch;
// each launched instance then ends, so the token runs 0 or 1,000
// throughout.
//
//	go test -run '^$' -bench LaunchWithLive -benchtime 2000x ./spot/
func BenchmarkLaunchWithLive(b *testing.B) {
	for _, live := range []int{0, 1000} {
		for _, mode := range []string{"listing", "kept"} {
			b.Run(fmt.Sprintf("%s/live=%d", mode, live), func(b *testing.B) {
				benchLaunchWithLive(b, live, mode == "kept")
			})
		}
	}
}

func benchLaunchWithLive(b *testing.B, live int, kept bool) {
	e := mustEnv(b)
	if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	const tok = "tokLive"
	for i := 0; i < live; i += 100 {
		if res := e.mustLaunch(b, e.spec(tok, fmt.Sprintf("seed-%d", i), min(100, live-i))); len(res.Instances) != min(100, live-i) {
			b.Fatalf("seeding: %d instances started", len(res.Instances))
		}
	}
	e.mustLaunch(b, e.spec("tokOther", "warm", 1)) // templates and prices warm
	ledger := inflight.New(0, nil)
	const maxRunning = 1 << 30
	check := func(u inflight.Counted) (inflight.Claim, error) {
		if u.Running+1 > maxRunning {
			return inflight.Claim{}, fmt.Errorf("full")
		}
		return inflight.Claim{Count: 1}, nil
	}
	// launch starts one instance; it ends (from inside, as its TTL guard
	// would) once timed, so the token runs live instances throughout.
	launch := func(key string) (time.Duration, error) {
		t0 := time.Now()
		s := e.spec(tok, key, 1)
		var tk *inflight.Ticket
		defer func() { tk.Done(nil) }()
		s.AdmitCounts = kept
		s.Admit = func(others []Instance) (float64, error) {
			var err error
			if kept {
				list := func(ctx context.Context) ([]Instance, error) {
					return e.client.Live(ctx, e.creds, region, tok, false)
				}
				tk, err = ledger.AdmitListing(context.Background(), tok, s.ClientToken, region, list, check)
			} else {
				tk, err = ledger.Admit(context.Background(), tok, s.ClientToken, others, check)
			}
			return 0, err
		}
		s.Started = func(ins []Instance) { tk.Done(ins) }
		res, err := e.client.Launch(context.Background(), s)
		took := time.Since(t0)
		for _, in := range res.Instances {
			if err := e.sim.Shutdown(in.ID); err != nil {
				return took, err
			}
		}
		return took, err
	}
	if _, err := launch("first"); err != nil { // a kept count's first listing
		b.Fatal(err)
	}
	var n atomic.Int64
	var mu sync.Mutex
	took := make([]time.Duration, 0, b.N)
	before := e.callCount("DescribeInstances")
	cpu0 := cpuTime()
	b.SetParallelism(4) // 8 at once on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d, err := launch(fmt.Sprintf("k%d", n.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			took = append(took, d)
			mu.Unlock()
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/launch")
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
	b.ReportMetric(float64(e.callCount("DescribeInstances")-before)/float64(b.N), "describes/launch")
}

// cpuTime is the CPU this process (client and awssim alike) has used: on a
// shared machine a steadier measure of a launch's cost than its latency.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
