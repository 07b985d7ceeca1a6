package activity_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/secrets"
)

func openStore(t *testing.T) secrets.Store {
	t.Helper()
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTeeKeepsAuditEvents writes audit lines as the task pipeline and the
// reaper do and reads them back as the console does.
func TestTeeKeepsAuditEvents(t *testing.T) {
	st := openStore(t)
	var out syncBuf
	a := activity.New(st, slog.New(slog.DiscardHandler), nil)
	log := slog.New(a.Tee(slog.NewJSONHandler(&out, nil)))
	audit := log.With("log", "audit")
	audit.Info("audit", "request_id", "r1", "source", "hook", "token_id", "tokA", "task", "launch", "outcome", "ok",
		"region", "us-east-1", "instance_ids", []string{"i-1", "i-2"}, "hourly_cost", "0.0208", "replayed", false, "dry_run", false)
	audit.Info("audit", "token_id", "tokA", "task", "launch", "outcome", "ok", "dry_run", true)
	audit.Info("audit", "token_id", "tokA", "task", "terminate", "outcome", "refused", "error", "mfa_invalid")
	audit.Info("audit", "token_id", "", "task", "launch", "outcome", "refused", "error", "token_invalid") // no token: not kept
	log.With("component", "reaper").Info("audit", "event", "reap", "action", "terminate", "reason", "expired", "instance_id", "i-9", "token_id", "tokB")
	log.Info("request", "token_id", "tokA")                                // not an audit event
	log.WithGroup("g").Info("audit", "token_id", "tokA", "task", "status") // inside a group: not the audit shape
	a.Close()

	if n := strings.Count(out.String(), "\n"); n != 7 {
		t.Errorf("the log got %d lines; want all 7 passed on:\n%s", n, out.String())
	}
	ctx := context.Background()
	h, err := a.History(ctx, "tokA")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("tokA history = %+v; want 3 events", h)
	}
	// Newest first.
	if h[0].Task != "terminate" || h[0].Error != "mfa_invalid" || h[0].Outcome != "refused" {
		t.Errorf("newest = %+v", h[0])
	}
	if h[1].Outcome != "ok (dry run)" {
		t.Errorf("dry run outcome = %q", h[1].Outcome)
	}
	first := h[2]
	if first.RequestID != "r1" || first.Source != "hook" || first.Region != "us-east-1" ||
		strings.Join(first.Instances, ",") != "i-1,i-2" || first.Detail != "$0.0208/h" || first.Event != "task" || first.At.IsZero() {
		t.Errorf("launch event = %+v", first)
	}
	hb, err := a.History(ctx, "tokB")
	if err != nil || len(hb) != 1 || hb[0].Event != "reap" || hb[0].Detail != "terminate expired" || hb[0].Instances[0] != "i-9" {
		t.Errorf("tokB history = %+v (%v)", hb, err)
	}
	if none, err := a.History(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("history of an unknown token = %v, %v", none, err)
	}
}

// TestHistoryBounded keeps exactly HistoryLen events, the newest.
func TestHistoryBounded(t *testing.T) {
	for _, n := range []int{activity.HistoryLen - 1, activity.HistoryLen, activity.HistoryLen + 1, 3 * activity.HistoryLen} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := openStore(t)
			a := activity.New(st, slog.New(slog.DiscardHandler), nil)
			for i := range n {
				a.Record("tok", activity.Event{Task: fmt.Sprint(i)})
				if i%7 == 0 {
					time.Sleep(time.Millisecond) // several batches, not one
				}
			}
			a.Close()
			a.Record("tok", activity.Event{Task: "after close"}) // dropped, no panic
			h, err := activity.New(st, slog.New(slog.DiscardHandler), nil).History(context.Background(), "tok")
			if err != nil {
				t.Fatal(err)
			}
			want := min(n, activity.HistoryLen)
			if len(h) != want {
				t.Fatalf("kept %d; want %d", len(h), want)
			}
			if h[0].Task != fmt.Sprint(n-1) || h[len(h)-1].Task != fmt.Sprint(n-want) {
				t.Errorf("kept %s … %s; want %d … %d", h[0].Task, h[len(h)-1].Task, n-1, n-want)
			}
		})
	}
}

// TestHistoryAcrossReplicas: two writers on one store (two replicas)
// lose no event to each other's check-and-set.
func TestHistoryAcrossReplicas(t *testing.T) {
	st := openStore(t)
	a1 := activity.New(st, slog.New(slog.DiscardHandler), nil)
	a2 := activity.New(st, slog.New(slog.DiscardHandler), nil)
	var wg sync.WaitGroup
	for _, a := range []*activity.Activity{a1, a2} {
		wg.Go(func() {
			for i := range 20 {
				a.Record("tok", activity.Event{Task: fmt.Sprint(i)})
			}
		})
	}
	wg.Wait()
	a1.Close()
	a2.Close()
	h, err := a1.History(context.Background(), "tok")
	if err != nil || len(h) != 40 {
		t.Fatalf("history has %d events (%v); want 40", len(h), err)
	}
}

func TestLastPass(t *testing.T) {
	st := openStore(t)
	a := activity.New(st, slog.New(slog.DiscardHandler), nil)
	defer a.Close()
	ctx := context.Background()
	if _, ok, err := a.LastPass(ctx); ok || err != nil {
		t.Fatalf("before any pass: ok %v, %v", ok, err)
	}
	p := activity.Pass{Start: time.Unix(100, 0).UTC(), End: time.Unix(101, 0).UTC(), Accounts: 3, Failed: 1,
		Counts: map[string]int{"terminate expired": 2}, Tokens: map[string]activity.Running{"tokA": {Running: 2, HourlyCost: 0.5}}}
	if err := a.SavePass(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, ok, err := a.LastPass(ctx)
	if err != nil || !ok || got.Accounts != 3 || got.Failed != 1 || got.Counts["terminate expired"] != 2 || got.Tokens["tokA"].Running != 2 || !got.End.Equal(p.End) {
		t.Errorf("LastPass = %+v, %v, %v", got, ok, err)
	}
}

// countingStore counts writes.
type countingStore struct {
	secrets.Store
	mu   sync.Mutex
	puts int
}

func (c *countingStore) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return c.Store.Put(ctx, key, rec, cas)
}

func TestChargeSpend(t *testing.T) {
	day := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	const gap = 10 * time.Minute
	type sample struct {
		at     time.Time
		hourly float64
	}
	tests := []struct {
		name               string
		samples            []sample
		readAt             time.Time
		wantToday, wantMon float64
	}{
		{name: "first sample charges nothing", samples: []sample{{day, 1}}, readAt: day},
		{name: "steady $1/h for an hour in 6 steps", readAt: day.Add(time.Hour), wantToday: 1, wantMon: 1,
			samples: []sample{{day, 1}, {day.Add(10 * time.Minute), 1}, {day.Add(20 * time.Minute), 1}, {day.Add(30 * time.Minute), 1},
				{day.Add(40 * time.Minute), 1}, {day.Add(50 * time.Minute), 1}, {day.Add(time.Hour), 1}}},
		{name: "a step up is charged at the mean", samples: []sample{{day, 1}, {day.Add(6 * time.Minute), 3}}, readAt: day.Add(6 * time.Minute),
			wantToday: 0.2, wantMon: 0.2},
		{name: "idle to running charges nothing yet", samples: []sample{{day, 0}, {day.Add(6 * time.Minute), 2}}, readAt: day.Add(6 * time.Minute)},
		{name: "a gap at the limit is charged", samples: []sample{{day, 6}, {day.Add(gap), 6}}, readAt: day.Add(gap), wantToday: 1, wantMon: 1},
		{name: "a gap past the limit is not", samples: []sample{{day, 6}, {day.Add(gap + time.Second), 6}}, readAt: day.Add(gap + time.Second)},
		{name: "midnight splits the day, not the month",
			samples:   []sample{{time.Date(2026, 11, 29, 23, 57, 0, 0, time.UTC), 10}, {time.Date(2026, 11, 30, 0, 3, 0, 0, time.UTC), 10}},
			readAt:    time.Date(2026, 11, 30, 0, 3, 0, 0, time.UTC),
			wantToday: 0.5, wantMon: 1},
		{name: "the month ends", samples: []sample{{time.Date(2026, 11, 30, 23, 57, 0, 0, time.UTC), 10}, {time.Date(2026, 12, 1, 0, 3, 0, 0, time.UTC), 10}},
			readAt: time.Date(2026, 12, 1, 0, 3, 0, 0, time.UTC), wantToday: 0.5, wantMon: 0.5},
		{name: "yesterday reads zero today", samples: []sample{{day.AddDate(0, 0, -10), 6}, {day.AddDate(0, 0, -10).Add(gap), 6}}, readAt: day.AddDate(0, 0, -9), wantMon: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := activity.New(openStore(t), slog.New(slog.DiscardHandler), nil)
			defer a.Close()
			ctx := context.Background()
			for _, s := range tt.samples {
				if err := a.Charge(ctx, "tok", s.hourly, s.at, gap); err != nil {
					t.Fatal(err)
				}
			}
			got, err := a.SpendOf(ctx, "tok", tt.readAt)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Today-tt.wantToday) > 1e-9 || math.Abs(got.ThisMonth-tt.wantMon) > 1e-9 {
				t.Errorf("today %.6f, month %.6f; want %.6f, %.6f", got.Today, got.ThisMonth, tt.wantToday, tt.wantMon)
			}
		})
	}
}

// TestChargeIdleWritesNothing: a token that runs nothing costs no store
// write per pass once this replica has seen it idle.
func TestChargeIdleWritesNothing(t *testing.T) {
	cs := &countingStore{Store: openStore(t)}
	a := activity.New(cs, slog.New(slog.DiscardHandler), nil)
	defer a.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		if err := a.Charge(ctx, "idle", 0, now.Add(time.Duration(i)*time.Minute), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if cs.puts != 1 {
		t.Errorf("5 idle samples wrote %d times; want 1 (the first)", cs.puts)
	}
	if err := a.Charge(ctx, "idle", 2, now.Add(5*time.Minute), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.Charge(ctx, "idle", 0, now.Add(6*time.Minute), time.Hour); err != nil {
		t.Fatal(err)
	}
	if cs.puts != 3 {
		t.Errorf("writes = %d; want 3 (a run starts, and ends)", cs.puts)
	}
	s, _ := a.SpendOf(ctx, "idle", now.Add(6*time.Minute))
	// 4m→5m: idle then, so nothing; 5m→6m at the mean of $2 and $0/h.
	if want := 1.0 / 60; math.Abs(s.Today-want) > 1e-9 {
		t.Errorf("today = %v; want %v", s.Today, want)
	}
}

// TestPoolSeries keeps one sample per step, the last in it, and 24 hours.
func TestPoolSeries(t *testing.T) {
	a := activity.New(openStore(t), slog.New(slog.DiscardHandler), nil)
	defer a.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i := range 2 * 6 * 24 * 2 { // every 5 minutes for 48 hours
		at := t0.Add(time.Duration(i) * 5 * time.Minute)
		if err := a.SamplePool(ctx, "ci", activity.PoolSample{At: at, Desired: i, Running: i / 2, Pending: 1}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := a.PoolSeries(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	last := t0.Add((2*6*24*2 - 1) * 5 * time.Minute)
	// 24 h back from the last sample, at 10-minute steps, both ends kept.
	if len(s) != 145 {
		t.Fatalf("kept %d samples; want 145 (one per 10 minutes over 24 h, both ends)", len(s))
	}
	if !s[len(s)-1].At.Equal(last) || s[len(s)-1].Desired != 2*6*24*2-1 {
		t.Errorf("newest = %+v; want the last sample", s[len(s)-1])
	}
	if got := last.Sub(s[0].At); got != activity.PoolWindow {
		t.Errorf("oldest is %s before the newest; want exactly %s", got, activity.PoolWindow)
	}
	for i := 1; i < len(s); i++ {
		if d := s[i].At.Sub(s[i-1].At); d != activity.PoolStep {
			t.Fatalf("samples %d and %d are %s apart; want %s", i-1, i, d, activity.PoolStep)
		}
	}
	if none, err := a.PoolSeries(ctx, "nope"); err != nil || len(none) != 0 {
		t.Errorf("an unknown pool's series = %v, %v", none, err)
	}
}

// BenchmarkTeeAudit is what the tee adds to one audit line: reading its
// attributes and queueing the event (the store write is the writer's,
// off the task's path).
func BenchmarkTeeAudit(b *testing.B) {
	for _, tee := range []bool{false, true} {
		b.Run(fmt.Sprintf("tee=%v", tee), func(b *testing.B) {
			st, err := secrets.OpenEmbedded(b.TempDir(), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			a := activity.New(st, slog.New(slog.DiscardHandler), nil)
			defer a.Close()
			var h slog.Handler = slog.NewJSONHandler(io.Discard, nil)
			if tee {
				h = a.Tee(h)
			}
			audit := slog.New(h).With("log", "audit")
			ids := []string{"i-0123456789abcdef0"}
			b.ReportAllocs()
			for b.Loop() {
				audit.Info("audit", "request_id", "r1", "source", "hook", "token_id", "tok_bench", "task", "launch", "outcome", "ok",
					"region", "us-east-1", "instance_ids", ids, "hourly_cost", "0.0104", "replayed", false, "dry_run", false)
			}
		})
	}
}

// stuckStore answers no write until its context ends.
type stuckStore struct{ secrets.Store }

func (stuckStore) Put(ctx context.Context, _ string, _ secrets.Record, _ int) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// TestCloseBounded: with a store that never answers and 100 tokens
// queued, Close returns after its grace (5 s), not a store timeout (5 s)
// per token (500 s). A liveness bound with a wide margin, not a speed
// target.
func TestCloseBounded(t *testing.T) {
	a := activity.New(stuckStore{openStore(t)}, slog.New(slog.DiscardHandler), nil)
	for i := range 100 {
		a.Record(fmt.Sprintf("tok%d", i), activity.Event{Task: "launch"})
	}
	start := time.Now()
	a.Close()
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Close took %s with a stuck store; want about 5 s", d)
	}
}
