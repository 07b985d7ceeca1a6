package capability_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// BenchmarkListPage is the first page of 100 tokens with 100 and with
// 100,000 stored (issue 14), on the embedded store: records are read for
// the page alone, so what grows with the store is the key listing only.
//
//	go test -run '^$' -bench ListPage -benchtime 200x ./capability/
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			log := slog.New(slog.DiscardHandler)
			st, err := secrets.OpenEmbedded(b.TempDir(), nil, log)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			clk := testclock.New(time.Now().UTC())
			reg := newRegistry(b, st, clk, log)
			ctx := context.Background()
			out, err := reg.Create(ctx, api.CreateTokenRequest{Name: "t",
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
				Policy:      launchPolicy()})
			if err != nil {
				b.Fatal(err)
			}
			rec, err := st.Get(ctx, capability.StoreKey(out.ID))
			if err != nil {
				b.Fatal(err)
			}
			// Copies of one real record under fresh ids: the same bytes a
			// Create writes, without n Seal calls.
			for i := 1; i < n; i++ {
				id := fmt.Sprintf("tok_%020d", i)
				id = strings.NewReplacer("0", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9", "j").Replace(id)
				cp := rec
				cp.Public = []byte(strings.Replace(string(rec.Public), out.ID, id, 1))
				if _, err := st.Put(ctx, capability.StoreKey(id), cp, secrets.CreateOnly); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				p, err := reg.ListPage(ctx, "", 100)
				if err != nil || len(p.Tokens) != 100 || p.Next == "" && n > 100 {
					b.Fatalf("ListPage = %d tokens, next %q, %v", len(p.Tokens), p.Next, err)
				}
			}
		})
	}
}
