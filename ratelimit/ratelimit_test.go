package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
)

var bg = context.Background()

// stores are the two real stores, each opened once per test.
func stores() map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"embedded": func(t *testing.T) Store { s, _ := storetest.Embedded(t, nil); return s },
		"vault":    func(t *testing.T) Store { return storetest.Vault(t, "ratelimit", nil) },
	}
}

// counting counts a store's reads and writes.
type counting struct {
	Store
	gets, puts atomic.Int32
}

func (c *counting) Get(ctx context.Context, key string) (secrets.Record, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, key)
}

func (c *counting) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	c.puts.Add(1)
	return c.Store.Put(ctx, key, rec, cas)
}

// TestAcrossReplicas: two replicas (limiters) on one store share each
// key's bucket, on both stores: exactly Burst calls pass however they are
// spread, the next is refused with the wait for one token, and time
// refills exactly that.
func TestAcrossReplicas(t *testing.T) {
	lim := Limit{PerSecond: 0.5, Burst: 4}
	tests := map[string]struct {
		replicas []int // the replica of each call of the burst and past it
		after    time.Duration
		want     []bool
		wait     time.Duration // of the last refusal
	}{
		"one replica: at the burst, one past":     {replicas: []int{0, 0, 0, 0, 0}, want: []bool{true, true, true, true, false}, wait: 2 * time.Second},
		"alternating: at the burst, one past":     {replicas: []int{0, 1, 0, 1, 0}, want: []bool{true, true, true, true, false}, wait: 2 * time.Second},
		"all but one on the other: one past":      {replicas: []int{1, 1, 1, 0, 1}, want: []bool{true, true, true, true, false}, wait: 2 * time.Second},
		"the refused replica never wrote":         {replicas: []int{0, 0, 0, 0, 1}, want: []bool{true, true, true, true, false}, wait: 2 * time.Second},
		"refilled: one token after 2 s, then not": {replicas: []int{0, 0, 1, 1}, after: 2 * time.Second, want: []bool{true, false}, wait: 2 * time.Second},
		"refilled just short of a token":          {replicas: []int{0, 0, 1, 1}, after: 2*time.Second - time.Millisecond, want: []bool{false}, wait: time.Second},
	}
	for kind, open := range stores() {
		for name, tt := range tests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				st := open(t)
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				reps := []*Limiter{New(st, "t", lim, clk.Now), New(st, "t", lim, clk.Now)}
				var last time.Duration
				calls := tt.replicas
				want := tt.want
				if tt.after > 0 {
					// The burst is spent first, then time passes.
					for i, r := range calls {
						if ok, _, err := reps[r].Allow(bg, "k"); !ok || err != nil {
							t.Fatalf("burst call %d: %v %v", i, ok, err)
						}
					}
					clk.Add(tt.after)
					calls = []int{1, 0}[:len(want)]
				}
				for i, r := range calls {
					ok, wait, err := reps[r].Allow(bg, "k")
					if err != nil {
						t.Fatal(err)
					}
					if ok != want[i] {
						t.Fatalf("call %d on replica %d: allowed %v; want %v", i, r, ok, want[i])
					}
					if !ok {
						last = wait
					}
				}
				if last != tt.wait && !(tt.wait == time.Second && last >= time.Second && last < 1100*time.Millisecond) {
					t.Fatalf("refused with wait %s; want %s", last, tt.wait)
				}
				if ok, _, _ := reps[0].Allow(bg, "other"); !ok {
					t.Fatal("another key shares the bucket")
				}
			})
		}
	}
}

// TestConcurrentAcrossReplicas: 120 calls at once over three replicas on
// one store, the clock still: exactly Burst pass.
func TestConcurrentAcrossReplicas(t *testing.T) {
	for kind, open := range stores() {
		t.Run(kind, func(t *testing.T) {
			st := &counting{Store: open(t)}
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			lim := Limit{PerSecond: 1, Burst: 25}
			reps := []*Limiter{New(st, "t", lim, clk.Now), New(st, "t", lim, clk.Now), New(st, "t", lim, clk.Now)}
			var allowed, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 120 {
				wg.Go(func() {
					for {
						ok, wait, err := reps[i%3].Allow(bg, "k")
						switch {
						case apperr.Code(err) == apperr.Unavailable:
							time.Sleep(time.Millisecond) // retried, as a client does on a 503
							continue
						case err != nil:
							t.Error(err)
						case ok:
							allowed.Add(1)
						case wait < time.Second:
							t.Errorf("refused with wait %s", wait)
						default:
							refused.Add(1)
						}
						return
					}
				})
			}
			wg.Wait()
			if allowed.Load() != 25 || refused.Load() != 95 {
				t.Fatalf("%d allowed, %d refused of 120 under a burst of 25; want 25 and 95", allowed.Load(), refused.Load())
			}
			t.Logf("%d writes, %d reads for 120 calls", st.puts.Load(), st.gets.Load())
		})
	}
}

// TestStoreCalls: alone on a key, a replica writes once per call and reads
// only the first time; once it has seen the bucket empty it refuses
// without any store call; another replica's write costs one read.
func TestStoreCalls(t *testing.T) {
	for kind, open := range stores() {
		t.Run(kind, func(t *testing.T) {
			st := &counting{Store: open(t)}
			clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
			lim := Limit{PerSecond: 1, Burst: 5}
			a, b := New(st, "t", lim, clk.Now), New(st, "t", lim, clk.Now)
			for i := range 3 {
				if ok, _, err := a.Allow(bg, "k"); !ok || err != nil {
					t.Fatalf("call %d: %v %v", i, ok, err)
				}
			}
			if g, p := st.gets.Load(), st.puts.Load(); g != 1 || p != 3 {
				t.Fatalf("3 calls alone: %d reads, %d writes; want 1 and 3", g, p)
			}
			if ok, _, _ := b.Allow(bg, "k"); !ok {
				t.Fatal("other replica refused with 2 tokens left")
			}
			if ok, _, _ := a.Allow(bg, "k"); !ok {
				t.Fatal("5th call refused")
			}
			// a's write conflicted once (b wrote): a read more.
			if g, p := st.gets.Load(), st.puts.Load(); g != 3 || p != 6 {
				t.Fatalf("after the other replica's call: %d reads, %d writes; want 3 and 6", g, p)
			}
			for i := range 50 {
				if ok, _, _ := a.Allow(bg, "k"); ok {
					t.Fatalf("flood call %d allowed past the burst", i)
				}
			}
			if g, p := st.gets.Load(), st.puts.Load(); g != 3 || p != 6 {
				t.Fatalf("a flood past the limit: %d reads, %d writes; want none more (3 and 6)", g, p)
			}
		})
	}
}

// down is a store that does not answer, with err.
type down struct {
	Store
	err error
}

func (d down) Get(context.Context, string) (secrets.Record, error) { return secrets.Record{}, d.err }

// TestStoreDown: a store that does not answer refuses the call with 503
// unavailable and a Retry-After: the store's own wait and details when it
// gave them, else 2 s and what happened.
func TestStoreDown(t *testing.T) {
	sealed := apperr.New(apperr.Unavailable, "Vault is sealed")
	waited := apperr.New(apperr.Unavailable, "no leader")
	waited.RetryAfter = 5 * time.Second
	for name, tc := range map[string]struct {
		err         error
		wantDetails string
		wantWait    time.Duration
	}{
		"the store's unavailable, no wait":    {err: fmt.Errorf("vault: %w", sealed), wantDetails: "Vault is sealed", wantWait: 2 * time.Second},
		"the store's unavailable with a wait": {err: waited, wantDetails: "no leader", wantWait: 5 * time.Second},
		"any other failure":                   {err: errors.New("connection reset"), wantDetails: "the store did not answer", wantWait: 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := storetest.Embedded(t, nil)
			l := New(down{s, tc.err}, "t", Limit{PerSecond: 1, Burst: 5}, nil)
			ok, _, err := l.Allow(bg, "k")
			if ok || apperr.Code(err) != apperr.Unavailable {
				t.Fatalf("Allow = %v, %v; want unavailable", ok, err)
			}
			if d := apperr.Details(err); !strings.Contains(d, tc.wantDetails) {
				t.Errorf("details %q, want %q in them", d, tc.wantDetails)
			}
			if w := apperr.RetryAfter(err); w != tc.wantWait {
				t.Errorf("Retry-After %s, want %s", w, tc.wantWait)
			}
		})
	}
}
