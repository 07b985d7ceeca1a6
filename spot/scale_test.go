package spot

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// seed starts n instances of token tok with ttl, 1,000 to a launch.
func (e *env) seed(tb testing.TB, tok string, n int, ttl time.Duration) {
	tb.Helper()
	for i := 0; i < n; i += 1000 {
		s := e.spec(tok, fmt.Sprintf("seed-%d", i), min(1000, n-i))
		s.TTL = ttl
		if res := e.mustLaunch(tb, s); len(res.Instances) != s.Count {
			tb.Fatalf("seeding %s: %d of %d started", tok, len(res.Instances), s.Count)
		}
	}
}

// TestTerminateAllInBatches: terminate all ends a token's instances with
// one TerminateInstances call per 1,000 (EC2's most) and one
// DescribeInstances page per 1,000, at the batch size and one past it.
func TestTerminateAllInBatches(t *testing.T) {
	tests := map[string]struct{ live, calls int }{
		"one":                {1, 1},
		"exactly one batch":  {1000, 1},
		"one past a batch":   {1001, 2},
		"5,000 in 5 batches": {5000, 5},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
				t.Fatal(err)
			}
			e.seed(t, "tokA", tt.live, time.Hour)
			e.seed(t, "tokB", 3, time.Hour) // another token's: untouched
			e.resetCalls()
			res, err := e.client.Terminate(context.Background(), e.creds, region, "tokA", nil, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Terminated) != tt.live {
				t.Fatalf("%d terminated; want %d", len(res.Terminated), tt.live)
			}
			if got := e.callCount("TerminateInstances"); got != tt.calls {
				t.Fatalf("%d TerminateInstances calls for %d instances; want %d", got, tt.live, tt.calls)
			}
			if got := e.callCount("DescribeInstances"); got != tt.calls {
				t.Fatalf("%d DescribeInstances pages for %d instances; want %d", got, tt.live, tt.calls)
			}
			if n := len(e.liveSimInstances()); n != 3 {
				t.Fatalf("%d instances still live; want tokB's 3", n)
			}
		})
	}
}

// TestReapPagesTenThousand: a pass over 10,000 instances (5,000 of them
// past their TTL) reads them a page of 1,000 at a time — 10
// DescribeInstances calls — and ends the expired ones in 5
// TerminateInstances calls; the token left running is counted whole.
func TestReapPagesTenThousand(t *testing.T) {
	e := mustEnv(t)
	if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
		t.Fatal(err)
	}
	e.seed(t, "tokKeep", 5000, time.Hour)
	e.seed(t, "tokOld", 5000, 10*time.Minute)
	e.resetCalls()
	rep, err := e.client.Reap(context.Background(), e.creds, region, e.clock.Now().Add(11*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	ended := 0
	for _, a := range rep.Actions {
		if a.Action == ActionTerminate {
			if a.TokenID != "tokOld" || a.Reason != ReasonExpired {
				t.Fatalf("reaped %+v; want only tokOld's, expired", a)
			}
			ended++
		}
	}
	if ended != 5000 || len(rep.Errors) > 0 {
		t.Fatalf("%d reaped (errors %v); want 5000", ended, rep.Errors)
	}
	if got := e.callCount("DescribeInstances"); got != 10 {
		t.Fatalf("%d DescribeInstances calls over 10,000 instances; want 10 (one per 1,000)", got)
	}
	if got := e.callCount("TerminateInstances"); got != 5 {
		t.Fatalf("%d TerminateInstances calls for 5,000 expired; want 5", got)
	}
	if u := rep.Usage["tokKeep"]; u.Running != 5000 || u.HourlySpend <= 0 {
		t.Fatalf("usage of the token left running = %+v; want 5000 running, priced", u)
	}
	if _, ok := rep.Usage["tokOld"]; ok {
		t.Fatalf("the reaped token still has usage %+v", rep.Usage["tokOld"])
	}
	if n := len(e.liveSimInstances()); n != 5000 {
		t.Fatalf("%d live after the pass; want 5000", n)
	}
}

// BenchmarkReapPass is one reaper pass over 10,000 live spotter instances
// of 10 tokens (none due): the describe pages, the per-pool counts and the
// pricing of the tokens' usage. Its time must stay well inside the
// reaper's interval (1 m by default).
//
//	go test -run '^$' -bench ReapPass -benchtime 5x ./spot/
func BenchmarkReapPass(b *testing.B) {
	e := mustEnv(b)
	if err := e.sim.SetCapacity(region, "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		e.seed(b, fmt.Sprintf("tok%d", i), 1000, time.Hour)
	}
	e.resetCalls()
	b.ResetTimer()
	for range b.N {
		rep, err := e.client.Reap(context.Background(), e.creds, region, e.clock.Now(), nil)
		if err != nil || len(rep.Usage) != 10 {
			b.Fatalf("Reap = %d tokens' usage, %v", len(rep.Usage), err)
		}
	}
	b.ReportMetric(float64(e.callCount("DescribeInstances"))/float64(b.N), "describes/pass")
}
