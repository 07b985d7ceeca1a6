package sources

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/secrets"
)

// TestForgetPool: a pool's sources setting and job record stay while the
// pool exists (deleting included) and go once the reconciler removed it.
func TestForgetPool(t *testing.T) {
	ctx := context.Background()
	f := newMinterFixture(t, repoSource+`}`)
	rec, err := f.reg.Get(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.track(ctx, rec, func(tr *trackerRecord) (bool, error) {
		tr.Tracker.Advance("github:1", Queued, "octo/app", "", time.Now())
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	present := func() (cfg, jobs bool) {
		_, err1 := f.s.store.Get(ctx, ConfigPrefix+"ci")
		_, err2 := f.s.store.Get(ctx, TrackerPrefix+"ci")
		shards, err3 := f.s.store.List(ctx, TrackerPrefix+"ci/")
		if err3 != nil {
			t.Fatal(err3)
		}
		return !errors.Is(err1, secrets.ErrNotFound), !errors.Is(err2, secrets.ErrNotFound) || len(shards) > 0
	}
	steps := []struct {
		name string
		do   func() error
		want bool // both records present after ForgetPool
	}{
		{"live", func() error { return nil }, true},
		{"deleting", func() error { _, err := f.reg.Delete(ctx, "ci"); return err }, true},
		{"removed", func() error { return f.reg.Remove(ctx, "ci") }, false},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if err := f.s.ForgetPool(ctx, "ci"); err != nil {
			t.Fatalf("%s: ForgetPool: %v", st.name, err)
		}
		if cfg, jobs := present(); cfg != st.want || jobs != st.want {
			t.Errorf("%s: setting present %v, job record %v; want %v", st.name, cfg, jobs, st.want)
		}
	}
}
