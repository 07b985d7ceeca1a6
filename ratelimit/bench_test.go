package ratelimit

import (
	"testing"

	"github.com/spotter-dev/spotter/internal/storetest"
)

// BenchmarkAllow is what the limit costs a call on Vault (VAULT_ADDR):
// below the limit (a write each, none read when alone; parallel: calls of
// one key on one replica at once, sharing writes), and past it (a flood
// refused on the bucket this replica saw empty: no store call).
//
//	go test -run '^$' -bench Allow ./ratelimit/
func BenchmarkAllow(b *testing.B) {
	for _, mode := range []string{"below-limit", "below-limit-parallel", "past-limit"} {
		b.Run("vault/"+mode, func(b *testing.B) {
			st := &counting{Store: storetest.Vault(b, "ratelimit-bench", nil)}
			lim := Limit{PerSecond: 1e9, Burst: 1 << 30}
			if mode == "past-limit" {
				lim = Limit{PerSecond: 1e-9, Burst: 1}
			}
			l := New(st, "bench", lim, nil)
			if ok, _, err := l.Allow(bg, "k"); !ok || err != nil {
				b.Fatal(ok, err)
			}
			st.gets.Store(0)
			st.puts.Store(0)
			b.ResetTimer()
			if mode == "below-limit-parallel" {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if ok, _, err := l.Allow(bg, "k"); !ok || err != nil {
							b.Error(ok, err)
							return
						}
					}
				})
			} else {
				for range b.N {
					ok, _, err := l.Allow(bg, "k")
					if err != nil || ok != (mode != "past-limit") {
						b.Fatal(ok, err)
					}
				}
			}
			b.ReportMetric(float64(st.gets.Load()+st.puts.Load())/float64(b.N), "store-calls/op")
		})
	}
}
