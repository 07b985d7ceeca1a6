package secrets_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/spotter-dev/spotter/secrets"
)

// BenchmarkStore measures the four calls a token lookup and a launch make,
// per implementation. The Vault numbers include the HTTP round trip to the
// local dev server, which is what a replica pays.
//
//	go test -run '^$' -bench Store -benchtime 2s ./secrets/
func BenchmarkStore(b *testing.B) {
	for _, impl := range implementations() {
		b.Run(impl.name, func(b *testing.B) {
			f := impl.open(b)
			ctx := context.Background()
			secret := []byte("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
			sealed, err := f.store.Seal(ctx, "tokens/bench", secret)
			if err != nil {
				b.Fatal(err)
			}
			rec := secrets.Record{Public: []byte(`{"name":"bench","policy":{"regions":["eu-west-1"]}}`), Sealed: sealed}
			if _, err := f.store.Put(ctx, "tokens/bench", rec, secrets.AnyVersion); err != nil {
				b.Fatal(err)
			}
			cases := []struct {
				name string
				op   func(i int) error
			}{
				{name: "Get", op: func(int) error { _, err := f.store.Get(ctx, "tokens/bench"); return err }},
				{name: "Put", op: func(i int) error {
					_, err := f.store.Put(ctx, fmt.Sprintf("bench/put%d", i%64), rec, secrets.AnyVersion)
					return err
				}},
				{name: "Seal", op: func(int) error { _, err := f.store.Seal(ctx, "tokens/bench", secret); return err }},
				{name: "Open", op: func(int) error { _, err := f.store.Open(ctx, "tokens/bench", sealed); return err }},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					i := 0
					for b.Loop() {
						if err := c.op(i); err != nil {
							b.Fatal(err)
						}
						i++
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				})
			}
		})
	}
}
