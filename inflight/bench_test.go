package inflight

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// counting counts the store calls the shared ledger makes.
type counting struct {
	Store
	calls atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (secrets.Record, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	c.calls.Add(1)
	return c.Store.Put(ctx, key, rec, cas)
}

func vaultStore(b testing.TB) secrets.Store {
	srv := vaulttest.Shared(b)
	mount := vaulttest.Unique("inflight-bench")
	st, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: srv.Addr, Token: srv.Token, CACert: srv.CACert, KVMount: mount})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		st.Close()
		if err := srv.Client(b).Sys().Unmount(mount); err != nil {
			b.Logf("cleanup: unmount %s: %v", mount, err)
		}
	})
	return st
}

// BenchmarkLaunchReservation is what the caps cost one launch: Admit and
// Done, with the memory ledger (one replica, the embedded store) and the
// shared one on Vault (VAULT_ADDR: the dev server, or a cluster node).
// store-calls/op counts the round trips to the store; serial is one
// launch at a time, parallel is GOMAXPROCS×4 launches of one token at once.
//
//	go test -run '^$' -bench LaunchReservation -benchtime 2000x ./inflight/
func BenchmarkLaunchReservation(b *testing.B) {
	launch := func(b *testing.B, l *Ledger, i int64) {
		tk, err := l.Admit(context.Background(), "tokA", fmt.Sprintf("sp-%d", i), nil, capAt(1<<30, 1, 0))
		if err != nil {
			b.Fatal(err)
		}
		tk.Done([]api.Instance{inst(fmt.Sprintf("i-%d", i), 0.01, "")})
	}
	// Started instances count for Recent; a short one keeps the record at
	// the size a token launching a few times a minute has.
	opts := SharedOptions{Recent: 50 * time.Millisecond}
	b.Run("memory/serial", func(b *testing.B) {
		l := New(opts.Recent, nil)
		for i := range b.N {
			launch(b, l, int64(i))
		}
	})
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("vault/"+mode, func(b *testing.B) {
			st := &counting{Store: vaultStore(b)}
			var n atomic.Int64
			// Three replicas, as three ledgers on the same store.
			ls := []*Ledger{NewShared(st, opts), NewShared(st, opts), NewShared(st, opts)}
			b.ResetTimer()
			if mode == "serial" {
				for i := range b.N {
					launch(b, ls[0], int64(i))
				}
			} else {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						launch(b, ls[i%3], i)
					}
				})
			}
			b.ReportMetric(float64(st.calls.Load())/float64(b.N), "store-calls/op")
		})
	}
}
