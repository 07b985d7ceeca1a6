package token

import (
	"context"
	"testing"
	"time"
)

// GuessBound's arithmetic, against values worked out by hand: lockouts of
// 1, 2, 4 … 128 min (255 min in all after 8) and then 240 min each; plus
// MaxMFAFailures−1 unlocked tries per started failure window.
func TestGuessBoundValues(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{d: 0, want: 0},
		{d: time.Nanosecond, want: 5 + 4},     // one cycle, one window
		{d: time.Minute, want: 5 + 4},         // the first lockout ends exactly at d
		{d: time.Minute + 1, want: 10 + 4},    // a second cycle starts
		{d: 24 * time.Hour, want: 13*5 + 4},   // 13 lockouts reach 1455 min ≥ 1440
		{d: 24*time.Hour + 1, want: 13*5 + 8}, // a second window has begun
		{d: 30 * 24 * time.Hour, want: 187*5 + 30*4},
	}
	for _, tt := range tests {
		if got := GuessBound(tt.d); got != tt.want {
			t.Errorf("GuessBound(%s) = %d; want %d", tt.d, got, tt.want)
		}
	}
}

// State reads an ended lockout and failures a whole window old as none,
// exactly at their ends and not a second before.
func TestThrottleStateEdges(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		fails        int
		at           time.Duration
		wantFailures int
		wantLocked   bool
	}{
		{name: "two failures", fails: 2, wantFailures: 2},
		{name: "two failures, a second before the window ends", fails: 2, at: MFAFailureWindow - time.Second, wantFailures: 2},
		{name: "two failures, at the window's end", fails: 2, at: MFAFailureWindow, wantFailures: 0},
		{name: "locked, a second before the lockout ends", fails: MaxMFAFailures, at: MFALockoutBase - time.Second, wantFailures: MaxMFAFailures, wantLocked: true},
		{name: "locked, at the lockout's end", fails: MaxMFAFailures, at: MFALockoutBase, wantFailures: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			th := NewThrottle(&memThrottle{}, clk.Now)
			for range tt.fails {
				_ = fail(t, th, "tok")
			}
			clk.Add(tt.at)
			s, err := th.State(ctx, "tok")
			if err != nil {
				t.Fatal(err)
			}
			if s.Failures != tt.wantFailures || !s.LockedUntil.IsZero() != tt.wantLocked {
				t.Errorf("State = %+v; want %d failures, locked %v", s, tt.wantFailures, tt.wantLocked)
			}
			if wantLockouts := tt.fails / MaxMFAFailures; s.Lockouts != wantLockouts {
				t.Errorf("State: lockouts = %d; want %d (the back-off stays until a right code)", s.Lockouts, wantLockouts)
			}
		})
	}
}

// Seq numbers every try, in order, across windows and lockouts.
func TestThrottleSeqIncreases(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	th := NewThrottle(&memThrottle{}, clk.Now)
	for want := int64(1); want <= 3; want++ {
		a, err := th.Begin(context.Background(), "tok")
		if err != nil || a.Seq != want || a.N != int(want) {
			t.Fatalf("try %d: Attempt %+v, %v; want Seq %d, N %d", want, a, err, want, want)
		}
	}
}
