package capability_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/token"
)

// BenchmarkSweepNonces is a reaper pass's nonce sweep with
// SPOTTER_BENCH_NONCES (default 10,000) live nonces in Vault (VAULT_ADDR),
// expiring over ten minutes. It logs what a sweep cost before the expiry
// buckets (LIST nonces/ and read every marker) and a sweep with no bucket
// due, then times sweeps one reaper interval (a minute) apart (ns/op),
// each deleting the markers of the one bucket that ended (deleted/op).
//
//	eval "$(scripts/vault-dev.sh start)"
//	SPOTTER_BENCH_NONCES=20000 go test -run '^$' -bench SweepNonces -benchtime 20x ./capability/
func BenchmarkSweepNonces(b *testing.B) {
	n := 10_000
	if v := os.Getenv("SPOTTER_BENCH_NONCES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("SPOTTER_BENCH_NONCES=%q: want a count", v)
		}
	}
	log := slog.New(slog.DiscardHandler)
	st := storetest.Vault(b, "nonce-bench", log)
	clk := testclock.New(time.Now().UTC())
	reg := newRegistry(b, st, clk, log)
	ctx := context.Background()
	if _, err := reg.SweepNonces(ctx); err != nil { // marks the store
		b.Fatal(err)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for i := range next {
				// Live for the next ten minutes, spread over its buckets.
				until := clk.Now().Add(time.Minute + time.Duration(i%600)*time.Second)
				if err := reg.Once(ctx, token.Nonce{ID: fmt.Sprintf("bench-%08d", i), Until: until}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	b.Logf("%d live nonces written in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	keys, err := st.List(ctx, "nonces/")
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range keys {
		if _, err := st.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("a sweep before the buckets (LIST nonces/, read each of %d): %v", len(keys), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if _, err := reg.SweepNonces(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("a sweep with no bucket due: %v", time.Since(start).Round(time.Microsecond))
	deleted := 0
	for b.Loop() {
		clk.Add(time.Minute) // a reaper interval: one bucket ends each sweep
		m, err := reg.SweepNonces(ctx)
		if err != nil {
			b.Fatal(err)
		}
		deleted += m
	}
	b.ReportMetric(float64(deleted)/float64(b.N), "deleted/op")
}
