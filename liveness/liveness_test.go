package liveness_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/secrets"
)

// TestStore: on both stores, concurrent updates of one record all land
// (check-and-set, again on a conflict), a false from fn writes nothing,
// List is per pool, Delete drops one.
func TestStore(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) secrets.Store{
		"embedded": func(t *testing.T) secrets.Store {
			st, _ := storetest.Embedded(t, slog.New(slog.DiscardHandler))
			return st
		},
		"vault": func(t *testing.T) secrets.Store { return storetest.Vault(t, "liveness", slog.New(slog.DiscardHandler)) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := liveness.New(open(t))
			t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			var wg sync.WaitGroup
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.Update(ctx, "ci", "i-0000000000000001", func(r *liveness.Record) bool {
						if at := t0.Add(time.Duration(i) * time.Second); at.After(r.LastSeen) {
							r.LastSeen = at
						}
						r.BootstrappedAt = t0
						return true
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if err := s.Update(ctx, "other", "i-0000000000000002", func(r *liveness.Record) bool { r.State = liveness.StateBusy; return true }); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(ctx, "ci", "i-0000000000000003", func(*liveness.Record) bool { return false }); err != nil {
				t.Fatal(err)
			}
			got, err := s.List(ctx, "ci")
			if err != nil {
				t.Fatal(err)
			}
			r := got["i-0000000000000001"]
			if len(got) != 1 || !r.LastSeen.Equal(t0.Add(5*time.Second)) || !r.Seen().Equal(r.LastSeen) {
				t.Fatalf("List = %+v", got)
			}
			if err := s.Delete(ctx, "ci", "i-0000000000000001"); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.List(ctx, "ci"); len(got) != 0 {
				t.Errorf("after Delete: %+v", got)
			}
			if got, _ := s.List(ctx, "other"); got["i-0000000000000002"].State != liveness.StateBusy {
				t.Errorf("other pool: %+v", got)
			}
		})
	}
}
