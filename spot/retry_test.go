package spot

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// clientWith is a second Client on e's awssim with cfg adjusted.
func (e *env) clientWith(tb testing.TB, adjust func(*Config)) *Client {
	tb.Helper()
	cfg := Config{
		EC2Endpoint: e.srv.URL, STSEndpoint: e.srv.URL, PricingEndpoint: e.srv.URL,
		DefaultRegion: region, HTTPClient: e.srv.Client(), Now: e.clock.Now,
		MaxBackoff: time.Millisecond, PollInterval: 5 * time.Millisecond, WaitTimeout: 2 * time.Second,
	}
	adjust(&cfg)
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// A CreateFleet throttled on every attempt but the last succeeds; throttled
// on every attempt it fails with aws_throttled and a Retry-After.
func TestThrottledCreateFleetRetries(t *testing.T) {
	tests := map[string]struct {
		throttles int
		wantCode  string // "" for success
		wantCalls int
	}{
		"throttled on all but the last attempt": {throttles: defaultMaxAttempts - 1, wantCalls: defaultMaxAttempts},
		"throttled on every attempt":            {throttles: defaultMaxAttempts, wantCode: apperr.AWSThrottled, wantCalls: defaultMaxAttempts},
		"throttled once":                        {throttles: 1, wantCalls: 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			if err := e.sim.InjectFault("CreateFleet", "RequestLimitExceeded", 1, tt.throttles); err != nil {
				t.Fatal(err)
			}
			res, err := e.client.Launch(context.Background(), e.spec("tokA", "k1", 2))
			if got := e.callCount("CreateFleet"); got != tt.wantCalls {
				t.Errorf("CreateFleet sent %d times; want %d", got, tt.wantCalls)
			}
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				if got := apperr.RetryAfter(err); got != throttledRetryAfter {
					t.Errorf("RetryAfter = %v; want %v", got, throttledRetryAfter)
				}
				want := fmt.Sprintf("on each of %d attempts", defaultMaxAttempts)
				if d := apperr.Details(err); !strings.Contains(d, want) {
					t.Errorf("details %q; want them to say %q", d, want)
				}
				if n := len(e.liveSimInstances()); n != 0 {
					t.Errorf("awssim has %d instances after a refused launch; want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Launch = %v", err)
			}
			if len(res.Instances) != 2 || len(e.liveSimInstances()) != 2 {
				t.Errorf("reply has %d, awssim %d instances; want 2 and 2 (no duplicates)", len(res.Instances), len(e.liveSimInstances()))
			}
		})
	}
}

// Retries stop before the caller's deadline, with the AWS error rather
// than a timeout, so the webhook gets aws_throttled and a Retry-After.
func TestThrottleRetriesHonourDeadline(t *testing.T) {
	tests := map[string]struct {
		deadline  time.Duration
		minCalls  int // more than one: it did retry while time allowed
		maxCalls  int
		wantCode  string
		wantWords string
	}{
		"short deadline gives up in time":              {deadline: 700 * time.Millisecond, minCalls: 2, maxCalls: 1000, wantCode: apperr.AWSThrottled, wantWords: "deadline"},
		"deadline inside the margin makes one attempt": {deadline: 150 * time.Millisecond, minCalls: 1, maxCalls: 1, wantCode: apperr.AWSThrottled, wantWords: "deadline"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			c := e.clientWith(t, func(cfg *Config) {
				cfg.MaxAttempts = 1000 // only the deadline stops it
				cfg.MaxBackoff = 100 * time.Millisecond
				cfg.RetryMargin = 200 * time.Millisecond
			})
			if err := e.sim.InjectFault("CreateFleet", "RequestLimitExceeded", 1, 0); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			start := time.Now()
			_, err := c.Launch(ctx, e.spec("tokA", "k1", 1))
			took := time.Since(start)
			wantCode(t, err, tt.wantCode)
			if ctx.Err() != nil {
				t.Errorf("Launch returned after the deadline (%v > %v)", took, tt.deadline)
			}
			if d := apperr.Details(err); !strings.Contains(d, tt.wantWords) {
				t.Errorf("details %q; want them to mention %q", d, tt.wantWords)
			}
			if got := e.callCount("CreateFleet"); got < tt.minCalls || got > tt.maxCalls {
				t.Errorf("CreateFleet sent %d times; want %d to %d", got, tt.minCalls, tt.maxCalls)
			}
		})
	}
}

// throttledLaunches makes k launches (one instance each) with half of all
// awssim calls throttled, then ends the outage and sends the failed ones
// again with the same key. It returns how many succeeded the first time.
func throttledLaunches(tb testing.TB, e *env, c *Client, k int) int {
	tb.Helper()
	if err := e.sim.InjectFault("*", "RequestLimitExceeded", 0.5, 0); err != nil {
		tb.Fatal(err)
	}
	var failed []LaunchSpec
	for i := range k {
		s := e.spec("tokA", fmt.Sprintf("k%d", i), 1)
		if _, err := c.Launch(context.Background(), s); err != nil {
			if code := apperr.Code(err); code != apperr.AWSThrottled {
				tb.Fatalf("launch %d: %v (code %q); want success or aws_throttled", i, err, code)
			}
			failed = append(failed, s)
		}
	}
	e.sim.ClearFaults()
	for _, s := range failed {
		if _, err := c.Launch(context.Background(), s); err != nil {
			tb.Fatalf("retry of %s after the outage: %v", s.ClientToken, err)
		}
	}
	// Idempotent: a launch that failed after its CreateFleet went through
	// answers the retry with the same instance, never a second one.
	if n := len(e.liveSimInstances()); n != k {
		tb.Fatalf("awssim has %d live instances after %d launches and their retries; want exactly %d", n, k, k)
	}
	return k - len(failed)
}

// At 50 % throttling of every EC2 call (seeded), nearly every launch
// succeeds on its own retries; with the SDK's default 3 attempts, which
// spotter used before, many do not.
func TestLaunchesAtHalfThrottling(t *testing.T) {
	const k = 200
	tests := map[string]struct {
		attempts int
		atLeast  float64
		below    float64
	}{
		"spotter's policy":          {attempts: 0, atLeast: 0.98, below: 1.01},
		"the SDK's default 3 tries": {attempts: 3, atLeast: 0, below: 0.9},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			c := e.clientWith(t, func(cfg *Config) { cfg.MaxAttempts = tt.attempts })
			ok := throttledLaunches(t, e, c, k)
			rate := float64(ok) / k
			t.Logf("50%% throttling: %d/%d launches succeeded (%.1f%%)", ok, k, 100*rate)
			if rate < tt.atLeast || rate >= tt.below {
				t.Errorf("success rate %.3f at 50%% throttling; want in [%.2f, %.2f)", rate, tt.atLeast, tt.below)
			}
		})
	}
}

// BenchmarkLaunchHalfThrottled reports the success rate of launches at
// 50 % throttling, and the AWS calls each took (throttled ones included):
// go test -run '^$' -bench LaunchHalfThrottled -benchtime 2000x ./spot/
// A fresh awssim per 500 launches keeps its pools from running dry.
func BenchmarkLaunchHalfThrottled(b *testing.B) {
	ok, calls := 0, 0
	for done := 0; done < b.N; {
		b.StopTimer()
		e := mustEnv(b)
		n := min(500, b.N-done)
		b.StartTimer()
		ok += throttledLaunches(b, e, e.client, n)
		e.mu.Lock()
		for _, c := range e.calls {
			calls += c
		}
		e.mu.Unlock()
		done += n
	}
	b.ReportMetric(100*float64(ok)/float64(b.N), "success_%")
	b.ReportMetric(float64(calls)/float64(b.N), "calls/launch")
}

// With every spot pool dry and half of all calls throttled, launches with
// on-demand fallback still succeed on their retries, and launches without
// it fail cleanly: no instance is left that the token's listing (which
// the reaper and terminate use) does not show, and none is half-launched.
func TestThrottledLaunchesWithoutSpotCapacity(t *testing.T) {
	const k = 60
	tests := map[string]struct {
		fallback  bool
		wantCode  string // what every failure is (besides aws_throttled)
		atLeast   float64
		wantAfter int // live instances after the failures are sent again
	}{
		"on-demand fallback":    {fallback: true, atLeast: 0.95, wantAfter: k},
		"no fallback: refusals": {fallback: false, wantCode: apperr.CapacityUnavailable, atLeast: 0, wantAfter: 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			e.noSpot(t)
			if err := e.sim.InjectFault("*", "RequestLimitExceeded", 0.5, 0); err != nil {
				t.Fatal(err)
			}
			var failed []LaunchSpec
			for i := range k {
				s := e.spec("tokA", fmt.Sprintf("k%d", i), 1)
				s.OnDemandFallback = tt.fallback
				if _, err := e.client.Launch(context.Background(), s); err != nil {
					if code := apperr.Code(err); code != apperr.AWSThrottled && code != tt.wantCode {
						t.Fatalf("launch %d: %v; want success, aws_throttled or %q", i, err, tt.wantCode)
					}
					failed = append(failed, s)
				}
			}
			ok := k - len(failed)
			t.Logf("50%% throttling, no spot capacity, fallback %v: %d/%d launches succeeded", tt.fallback, ok, k)
			if rate := float64(ok) / k; rate < tt.atLeast {
				t.Errorf("success rate %.3f; want at least %.2f", rate, tt.atLeast)
			}
			e.sim.ClearFaults()
			for _, s := range failed {
				_, err := e.client.Launch(context.Background(), s)
				if tt.fallback && err != nil {
					t.Fatalf("retry of %s after the outage: %v", s.ClientToken, err)
				}
				if !tt.fallback {
					wantCode(t, err, apperr.CapacityUnavailable)
				}
			}
			live := e.liveSimInstances()
			if len(live) != tt.wantAfter {
				t.Fatalf("awssim has %d live instances; want %d", len(live), tt.wantAfter)
			}
			st, err := e.client.Status(context.Background(), e.creds, region, "tokA", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Instances) != len(live) {
				t.Errorf("the token's listing shows %d instances; awssim has %d live: some escaped the reaper's view", len(st.Instances), len(live))
			}
		})
	}
}
