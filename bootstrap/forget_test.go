package bootstrap_test

import (
	"errors"
	"testing"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/secrets"
)

// TestForgetPool, on both stores: a pool's secrets record is deleted once
// no live pool owns it — the pool removed, or the record an earlier
// incarnation's — and kept while its pool lives (deleting or not), by
// ForgetPool (the reconciler's removal) and by Sweep (what a crash left).
func TestForgetPool(t *testing.T) {
	tests := map[string]struct {
		after     func(f *fixture) // the pool's fate once its secrets are set
		bySweep   bool
		wantGone  bool
		wantSwept int
	}{
		"live pool keeps them": {after: func(*fixture) {}},
		"deleting pool keeps them": {after: func(f *fixture) {
			f.pools.mu.Lock()
			defer f.pools.mu.Unlock()
			rec, at := f.pools.recs[poolName], f.clk.Now()
			rec.DeletedAt = &at
			f.pools.recs[poolName] = rec
		}},
		"removed pool's go":                {after: (*fixture).removePool, wantGone: true},
		"removed pool's go, by the sweep":  {after: (*fixture).removePool, bySweep: true, wantGone: true, wantSwept: 1},
		"an earlier incarnation's go":      {after: func(f *fixture) { f.setIncarnation("inc-2") }, wantGone: true},
		"live pool keeps them, the sweep":  {after: func(*fixture) {}, bySweep: true},
		"earlier incarnation's, the sweep": {after: func(f *fixture) { f.setIncarnation("inc-2") }, bySweep: true, wantGone: true, wantSwept: 1},
	}
	for backend, open := range backends() {
		for name, tt := range tests {
			t.Run(backend+"/"+name, func(t *testing.T) {
				f := newFixture(t, open, false)
				f.setIncarnation("inc-1")
				f.setCanaries(t)
				tt.after(f)
				if tt.bySweep {
					if n, err := f.svc.Sweep(bg); err != nil || n != tt.wantSwept {
						t.Fatalf("Sweep = %d, %v; want %d", n, err, tt.wantSwept)
					}
				} else if gone, err := f.svc.ForgetPool(bg, poolName); err != nil || gone != tt.wantGone {
					t.Fatalf("ForgetPool = %v, %v; want %v", gone, err, tt.wantGone)
				}
				_, err := f.st.Get(bg, bootstrap.SecretsPrefix+poolName)
				if gone := errors.Is(err, secrets.ErrNotFound); gone != tt.wantGone {
					t.Fatalf("record gone = %v (%v); want %v", gone, err, tt.wantGone)
				}
				keys, err := f.st.List(bg, bootstrap.SecretsPrefix)
				if err != nil || (len(keys) == 0) != tt.wantGone {
					t.Errorf("secrets records %v, %v", keys, err)
				}
			})
		}
	}
}

// setIncarnation makes the fake pool record the given incarnation (a pool
// created again under its name has a new one).
func (f *fixture) setIncarnation(inc string) {
	f.pools.mu.Lock()
	defer f.pools.mu.Unlock()
	rec := f.pools.recs[poolName]
	rec.Incarnation = inc
	f.pools.recs[poolName] = rec
}

func (f *fixture) removePool() {
	f.pools.mu.Lock()
	defer f.pools.mu.Unlock()
	delete(f.pools.recs, poolName)
}
