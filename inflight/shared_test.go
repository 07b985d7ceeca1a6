package inflight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

// embedded is a real store with check-and-set: the bbolt file store.
func embedded(t testing.TB) secrets.Store {
	t.Helper()
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestSharedAtTheLimit: replicas share one store; each is a Ledger of its
// own. maxRunning is 5 in every case; the launch asks for ask instances.
func TestSharedAtTheLimit(t *testing.T) {
	const max = 5
	listed := func(n int) []api.Instance {
		out := make([]api.Instance, n)
		for i := range out {
			out[i] = api.Instance{ID: "i-listed-" + string(rune('a'+i))}
		}
		return out
	}
	tests := map[string]struct {
		listed int
		// held are claims other replicas hold; started, instances they
		// started that the listing does not show yet.
		held, started int
		// after moves the clock before the launch.
		after time.Duration
		ask   int
		want  bool
	}{
		"empty":                               {ask: 1, want: true},
		"exactly at maxRunning":               {listed: 4, ask: 1, want: true},
		"one past maxRunning":                 {listed: 5, ask: 1},
		"a count that lands exactly on it":    {listed: 2, ask: 3, want: true},
		"a count one past it":                 {listed: 2, ask: 4},
		"claims of other replicas: at it":     {listed: 2, held: 2, ask: 1, want: true},
		"claims of other replicas: past it":   {listed: 2, held: 3, ask: 1},
		"unlisted starts of others: at it":    {listed: 1, started: 3, ask: 1, want: true},
		"unlisted starts of others: past it":  {listed: 2, started: 3, ask: 1},
		"a dead replica's claims lapse":       {listed: 2, held: 3, after: time.Minute, ask: 3, want: true},
		"one tick before the lease ends":      {listed: 2, held: 3, after: time.Minute - time.Nanosecond, ask: 1},
		"unlisted starts stop counting later": {listed: 2, started: 3, after: 2 * time.Minute, ask: 3, want: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			st := embedded(t)
			opts := SharedOptions{Lease: time.Minute, Recent: 2*time.Minute - time.Second, Now: clk.Now}
			other, mine := NewShared(st, opts), NewShared(st, opts)
			for i := range tt.held {
				if _, err := other.Admit(context.Background(), "tokA", "", nil, capAt(max, 1, 0)); err != nil {
					t.Fatalf("other replica's claim %d: %v", i, err)
				}
			}
			if tt.started > 0 {
				tk, err := other.Admit(context.Background(), "tokA", "", nil, capAt(max, tt.started, 0))
				if err != nil {
					t.Fatal(err)
				}
				var ins []api.Instance
				for i := range tt.started {
					ins = append(ins, api.Instance{ID: "i-new-" + string(rune('a'+i))})
				}
				tk.Done(ins)
			}
			clk.Add(tt.after)
			tk, err := mine.Admit(context.Background(), "tokA", "", listed(tt.listed), capAt(max, tt.ask, 0))
			if got := err == nil; got != tt.want {
				t.Fatalf("Admit = %v; want admitted %v", err, tt.want)
			}
			if err != nil && !errors.Is(err, errFull) {
				t.Fatalf("Admit = %v; want the check's refusal", err)
			}
			tk.Done(nil)
		})
	}
}

// TestSharedHoldsAcrossReplicas: 60 launches at once over three ledgers on
// one store, under a cap of 5: exactly 5 admitted. A launch told the store
// is busy retries, as a client does on a 503.
func TestSharedHoldsAcrossReplicas(t *testing.T) {
	st := embedded(t)
	replicas := []*Ledger{NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{})}
	var admitted, busy atomic.Int32
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			for {
				tk, err := replicas[i%3].Admit(context.Background(), "tokA", "", nil, capAt(5, 1, 0))
				if apperr.Code(err) == apperr.Unavailable {
					busy.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				if err == nil {
					admitted.Add(1)
					tk.Done([]api.Instance{{ID: "i-" + string(rune('A'+i))}})
				}
				return
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("%d of 60 launches admitted over 3 replicas under maxRunning 5; want exactly 5", n)
	}
	t.Logf("%d busy answers retried", busy.Load())
}

// conflicting is a store another replica writes to before each of our
// writes lands: every check-and-set conflicts.
type conflicting struct {
	secrets.Store
	puts atomic.Int32
}

func (c *conflicting) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	c.puts.Add(1)
	if _, err := c.Store.Put(ctx, key, secrets.Record{Public: []byte(`{}`)}, secrets.AnyVersion); err != nil {
		return 0, err
	}
	return c.Store.Put(ctx, key, rec, cas)
}

func TestSharedConflictStormIsABoundedRetry(t *testing.T) {
	st := &conflicting{Store: embedded(t)}
	l := NewShared(st, SharedOptions{Tries: 4})
	tk, err := l.Admit(context.Background(), "tokA", "", nil, capAt(5, 1, 0))
	if tk != nil || apperr.Code(err) != apperr.Unavailable || apperr.RetryAfter(err) <= 0 {
		t.Fatalf("Admit = %v, %v; want unavailable with a Retry-After", tk, err)
	}
	if n := st.puts.Load(); n != 4 {
		t.Fatalf("%d writes tried; want exactly the 4 tries", n)
	}
}

// down is a store that does not answer.
type down struct{ secrets.Store }

func (down) Get(context.Context, string) (secrets.Record, error) {
	return secrets.Record{}, secrets.ErrUnavailable
}

func TestSharedStoreDownRefusesTheLaunch(t *testing.T) {
	l := NewShared(down{embedded(t)}, SharedOptions{})
	checked := false
	_, err := l.Admit(context.Background(), "tokA", "", nil, func(Counted) (Claim, error) { checked = true; return Claim{Count: 1}, nil })
	if apperr.Code(err) != apperr.Unavailable || checked {
		t.Fatalf("Admit = %v (checked %v); want unavailable before any check", err, checked)
	}
}

// TestSharedSettleFreesTheClaim: Done turns the claim into started
// instances in one write when no one wrote since Admit, and Ended drops
// them at once.
func TestSharedSettleFreesTheClaim(t *testing.T) {
	st := embedded(t)
	a, b := NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{})
	tk, err := a.Admit(context.Background(), "tokA", "", nil, capAt(2, 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	tk.Done([]api.Instance{inst("i-1", 0.5, "")})
	var got Counted
	see := func(u Counted) (Claim, error) { got = u; return Claim{}, errFull }
	_, _ = b.Admit(context.Background(), "tokA", "", nil, see)
	if want := (counted(1, 0.5, 0, 0)); got != want {
		t.Fatalf("after settling, the other replica counts %+v; want %+v", got, want)
	}
	b.Ended(context.Background(), "tokA", []string{"i-1"})
	_, _ = a.Admit(context.Background(), "tokA", "", nil, see)
	if got != (Counted{}) {
		t.Fatalf("after a terminate, counted %+v; want nothing", got)
	}
}
