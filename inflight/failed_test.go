package inflight

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/testclock"
)

// TestFailedIsAnsweredAgain: a launch identity's failure is what an Admit
// of it answers, on every replica, until FailedFor; other identities are
// admitted; a token keeps at most maxFailed, forgetting the oldest.
func TestFailedIsAnsweredAgain(t *testing.T) {
	cause := &apperr.Error{Code: apperr.CapacityUnavailable, Details: "no capacity in t3.micro/us-east-1a", RetryAfter: 30 * time.Second}
	tests := map[string]struct {
		after   time.Duration
		others  int    // failures of other identities kept after it
		key     string // the Admit's identity
		replays bool
	}{
		"the same identity":                 {key: "k", replays: true},
		"one tick before FailedFor":         {after: FailedFor - time.Nanosecond, key: "k", replays: true},
		"at FailedFor: forgotten":           {after: FailedFor, key: "k"},
		"another identity":                  {key: "other"},
		"at maxFailed kept":                 {others: maxFailed - 1, key: "k", replays: true},
		"one past maxFailed: oldest leaves": {others: maxFailed, key: "k"},
	}
	for kind, newLedgers := range map[string]func(t *testing.T, clk *testclock.Clock) [2]*Ledger{
		"memory": func(_ *testing.T, clk *testclock.Clock) [2]*Ledger { l := New(0, clk.Now); return [2]*Ledger{l, l} },
		"shared": func(t *testing.T, clk *testclock.Clock) [2]*Ledger {
			st := embedded(t)
			return [2]*Ledger{NewShared(st, SharedOptions{Now: clk.Now}), NewShared(st, SharedOptions{Now: clk.Now})}
		},
	} {
		for name, tt := range tests {
			t.Run(kind+"/"+name, func(t *testing.T) {
				clk := testclock.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
				reps := newLedgers(t, clk)
				reps[0].Failed("tokA", "k", cause)
				for i := range tt.others {
					clk.Add(time.Millisecond)
					reps[0].Failed("tokA", fmt.Sprintf("o%d", i), cause)
				}
				clk.Add(tt.after)
				checked := false
				tk, err := reps[1].Admit(context.Background(), "tokA", tt.key, nil, func(Counted) (Claim, error) {
					checked = true
					return Claim{Count: 1}, nil
				})
				tk.Done(nil)
				if !tt.replays {
					if err != nil || !checked {
						t.Fatalf("Admit = %v (checked %v); want admitted", err, checked)
					}
					return
				}
				if checked || apperr.Code(err) != cause.Code || apperr.Details(err) != cause.Details || apperr.RetryAfter(err) != cause.RetryAfter {
					t.Fatalf("Admit = %v, retry after %s (checked %v); want the failure as it was told, unchecked", err, apperr.RetryAfter(err), checked)
				}
			})
		}
	}
}
