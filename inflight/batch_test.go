package inflight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/secrets"
)

// gated counts a store's calls and, while armed, holds each Put until the
// test releases it, so the test decides what queues behind a write.
type gated struct {
	Store
	gets, puts atomic.Int32
	armed      atomic.Bool
	entered    chan struct{}
	release    chan struct{}
}

func newGated(st Store) *gated {
	return &gated{Store: st, entered: make(chan struct{}, 64), release: make(chan struct{})}
}

func (g *gated) Get(ctx context.Context, key string) (secrets.Record, error) {
	g.gets.Add(1)
	return g.Store.Get(ctx, key)
}

func (g *gated) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	g.puts.Add(1)
	if g.armed.Load() {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.Store.Put(ctx, key, rec, cas)
}

// pending waits until n changes queue behind the token's leader.
func pending(t *testing.T, l *Ledger, tokenID string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.shared.mu.Lock()
		got := 0
		if q := l.shared.queues[tokenID]; q != nil {
			got = len(q.pending)
		}
		l.shared.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("%d changes never queued on %s", n, tokenID)
}

// admitAsync starts an Admit of key under capAt(max, 1, 0); its outcome
// arrives on the channel.
func admitAsync(l *Ledger, key string, max int) <-chan error {
	out := make(chan error, 1)
	go func() {
		tk, err := l.Admit(context.Background(), "tokA", key, nil, capAt(max, 1, 0))
		_ = tk // held until the test ends: the claims are what is counted
		out <- err
	}()
	return out
}

// TestGroupCommitChecksEachClaimInOrder: while one write is under way, 15
// launches of the token queue on this replica; they are admitted by one
// more write, each checked against those before it, so exactly the first
// four fit under maxRunning 5 and the rest are refused by the check.
func TestGroupCommitChecksEachClaimInOrder(t *testing.T) {
	st := newGated(embedded(t))
	l := NewShared(st, SharedOptions{})
	st.armed.Store(true)
	first := admitAsync(l, "k0", 5)
	<-st.entered
	var rest []<-chan error
	for i := 1; i <= 15; i++ {
		rest = append(rest, admitAsync(l, fmt.Sprintf("k%d", i), 5))
		pending(t, l, "tokA", i) // queued in this order
	}
	st.armed.Store(false)
	close(st.release)
	if err := <-first; err != nil {
		t.Fatalf("first launch: %v", err)
	}
	for i, c := range rest {
		err := <-c
		if want := i < 4; (err == nil) != want {
			t.Fatalf("queued launch %d: Admit = %v; want admitted %v", i+1, err, want)
		}
		if err != nil && !errors.Is(err, errFull) {
			t.Fatalf("queued launch %d: Admit = %v; want the check's refusal", i+1, err)
		}
	}
	if p, g := st.puts.Load(), st.gets.Load(); p != 2 || g != 1 {
		t.Fatalf("%d writes and %d reads for 16 launches in two batches; want 2 and 1", p, g)
	}
}

// TestGroupCommitConflictRetriesTheBatch: while this replica's write waits,
// another replica takes three of five places; the write conflicts, and the
// batch (the waiting launch, then three queued) is judged again on the
// record the other replica wrote: 3 + 2 admitted, exactly 5.
func TestGroupCommitConflictRetriesTheBatch(t *testing.T) {
	base := embedded(t)
	st := newGated(base)
	a, b := NewShared(st, SharedOptions{}), NewShared(base, SharedOptions{})
	st.armed.Store(true)
	first := admitAsync(a, "a0", 5)
	<-st.entered
	for i := range 3 {
		if _, err := b.Admit(context.Background(), "tokA", fmt.Sprintf("b%d", i), nil, capAt(5, 1, 0)); err != nil {
			t.Fatalf("other replica's launch %d: %v", i, err)
		}
	}
	var rest []<-chan error
	for i := 1; i <= 3; i++ {
		rest = append(rest, admitAsync(a, fmt.Sprintf("a%d", i), 5))
		pending(t, a, "tokA", i)
	}
	st.armed.Store(false)
	close(st.release)
	admitted := 3
	for i, c := range append([]<-chan error{first}, rest...) {
		err := <-c
		if err == nil {
			admitted++
		} else if !errors.Is(err, errFull) {
			t.Fatalf("launch a%d: %v; want admitted or the check's refusal", i, err)
		}
	}
	if admitted != 5 {
		t.Fatalf("%d admitted over two replicas under maxRunning 5; want exactly 5", admitted)
	}
}

// TestGroupCommitAloneWritesWithoutReading: a replica that alone writes a
// token's record pays one write per change after its first read; another
// replica's write in between costs one read more, and is counted.
func TestGroupCommitAloneWritesWithoutReading(t *testing.T) {
	base := embedded(t)
	st := newGated(base)
	a, b := NewShared(st, SharedOptions{}), NewShared(base, SharedOptions{})
	launch := func(l *Ledger, i int, max int) error {
		tk, err := l.Admit(context.Background(), "tokA", fmt.Sprintf("k%d", i), nil, capAt(max, 1, 0))
		if err == nil {
			tk.Done([]api.Instance{inst(fmt.Sprintf("i-%d", i), 0, "")})
		}
		return err
	}
	for i := range 10 {
		if err := launch(a, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	if p, g := st.puts.Load(), st.gets.Load(); p != 20 || g != 1 {
		t.Fatalf("10 launches alone: %d writes, %d reads; want 20 and 1", p, g)
	}
	if err := launch(b, 10, 100); err != nil {
		t.Fatal(err)
	}
	// 11 started, so at maxRunning 12 one more fits, and then none.
	if err := launch(a, 11, 12); err != nil {
		t.Fatalf("launch after another replica's: %v", err)
	}
	if p, g := st.puts.Load(), st.gets.Load(); p != 23 || g != 2 {
		t.Fatalf("after another replica wrote: %d writes, %d reads; want 23 (one conflicted) and 2", p, g)
	}
	if err := launch(a, 12, 12); !errors.Is(err, errFull) {
		t.Fatalf("13th launch under maxRunning 12: %v; want refused", err)
	}
}

// TestGroupCommitRefusalRereads: a refusal judged on the record this
// replica remembers is judged again on the store's, so capacity another
// replica has freed since is seen.
func TestGroupCommitRefusalRereads(t *testing.T) {
	base := embedded(t)
	st := newGated(base)
	a, b := NewShared(st, SharedOptions{}), NewShared(base, SharedOptions{})
	held, err := b.Admit(context.Background(), "tokA", "b", nil, capAt(1, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admit(context.Background(), "tokA", "a", nil, capAt(1, 1, 0)); !errors.Is(err, errFull) {
		t.Fatalf("Admit past maxRunning 1: %v; want refused", err)
	}
	held.Done(nil) // the other replica's launch failed: its place is free
	tk, err := a.Admit(context.Background(), "tokA", "a", nil, capAt(1, 1, 0))
	if err != nil {
		t.Fatalf("Admit after the place was freed: %v; want admitted", err)
	}
	tk.Done(nil)
	if g := st.gets.Load(); g != 2 {
		t.Fatalf("%d reads; want 2 (the first, and the second refusal's on the remembered record)", g)
	}
}

// TestGroupCommitManyAtOnce: 64 launches at once on each of three
// replicas, maxRunning 20: exactly 20 admitted, in fewer writes than
// launches.
func TestGroupCommitManyAtOnce(t *testing.T) {
	st := &counting{Store: embedded(t)}
	reps := []*Ledger{NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{}), NewShared(st, SharedOptions{})}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 192 {
		wg.Go(func() {
			for {
				_, err := reps[i%3].Admit(context.Background(), "tokA", fmt.Sprintf("k%d", i), nil, capAt(20, 1, 0))
				if errors.Is(err, errFull) {
					return
				}
				if err == nil {
					admitted.Add(1)
					return
				}
				time.Sleep(time.Millisecond) // busy: retried, as a client does on a 503
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 20 {
		t.Fatalf("%d of 192 admitted under maxRunning 20; want exactly 20", n)
	}
	t.Logf("%d store calls for 192 launches", st.calls.Load())
}
