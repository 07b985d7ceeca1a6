package inflight

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// lagging stands in for EC2 listing a token's instances: an instance is
// listed only lag after it started, as DescribeInstances is eventually
// consistent.
type lagging struct {
	mu    sync.Mutex
	now   func() time.Time
	lag   time.Duration
	live  []api.Instance
	since []time.Time
	lists int
}

func (e *lagging) start(in api.Instance) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.live = append(e.live, in)
	e.since = append(e.since, e.now())
}

func (e *lagging) list(context.Context) ([]api.Instance, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lists++
	now := e.now()
	var out []api.Instance
	for i, in := range e.live {
		if !now.Before(e.since[i].Add(e.lag)) {
			out = append(out, in)
		}
	}
	return out, nil
}

// sizing counts a store's calls and the bytes of its writes.
type sizing struct {
	Store
	calls, puts, bytes atomic.Int64
}

func (s *sizing) Get(ctx context.Context, key string) (secrets.Record, error) {
	s.calls.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *sizing) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	s.calls.Add(1)
	s.puts.Add(1)
	s.bytes.Add(int64(len(rec.Public)))
	return s.Store.Put(ctx, key, rec, cas)
}

// BenchmarkUsageRecord is what a token's launch rate costs its usage
// record: one launch at a time (AdmitListing and Done, on Vault), with the
// token launching at 0 or 1,000 launches a minute on the ledger's clock,
// after a minute of it (so the record is as large as that rate makes it).
// EC2 lists an instance 2 s after it started. The count's maxAge listing
// is left out (an hour), as it is the same at every rate.
//
//	go test -run '^$' -bench UsageRecord -benchtime 2000x ./inflight/
//
// record-bytes is the record's size at the end, write-bytes/op the bytes
// written per launch; p50-ms and p99-ms are a launch's latency.
func BenchmarkUsageRecord(b *testing.B) {
	for _, rate := range []int{0, 1000} {
		b.Run(fmt.Sprintf("vault/%d-per-min", rate), func(b *testing.B) {
			every := 61 * time.Second // nothing recent: longer than DefaultRecent
			if rate > 0 {
				every = time.Minute / time.Duration(rate)
			}
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			st := &sizing{Store: vaultStore(b)}
			l := NewShared(st, SharedOptions{Now: clk.Now})
			l.maxAge = time.Hour
			ec2 := &lagging{now: clk.Now, lag: 2 * time.Second}
			n := 0
			launch := func() time.Duration {
				n++
				clk.Add(every)
				key := fmt.Sprintf("sp-%052d", n)
				t0 := time.Now()
				tk, err := l.AdmitListing(context.Background(), "tokA", key, "r1", ec2.list, capAt(1<<30, 1, 0))
				if err != nil {
					b.Fatal(err)
				}
				in := inst(fmt.Sprintf("i-%017x", n), 0.0104, key)
				ec2.start(in)
				tk.Done([]api.Instance{in})
				return time.Since(t0)
			}
			for range max(rate, 1) { // a minute at the rate
				launch()
			}
			st.calls.Store(0)
			st.puts.Store(0)
			st.bytes.Store(0)
			lists := ec2.lists
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				took = append(took, launch())
			}
			b.StopTimer()
			slices.Sort(took)
			rec, err := st.Store.Get(context.Background(), usageKey("tokA"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(rec.Public)), "record-bytes")
			b.ReportMetric(float64(st.bytes.Load())/float64(b.N), "write-bytes/op")
			b.ReportMetric(float64(st.calls.Load())/float64(b.N), "store-calls/op")
			b.ReportMetric(float64(ec2.lists-lists)/float64(b.N), "listings/op")
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
