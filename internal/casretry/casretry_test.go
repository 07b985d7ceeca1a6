package casretry

import (
	"context"
	"testing"
	"time"
)

func TestMax(t *testing.T) {
	for name, tc := range map[string]struct {
		attempt int
		want    time.Duration
	}{
		"the first attempt waits not": {attempt: 0, want: 0},
		"the second 1 ms":             {attempt: 1, want: time.Millisecond},
		"then doubling":               {attempt: 3, want: 4 * time.Millisecond},
		"exactly at the cap":          {attempt: 7, want: Cap},
		"one past the cap":            {attempt: 8, want: Cap},
		"far past it":                 {attempt: 1000, want: Cap},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Max(tc.attempt); got != tc.want {
				t.Errorf("Max(%d) = %s, want %s", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, 7); err == nil {
		t.Error("Wait on an ended context = nil, want its error")
	}
	if err := Wait(context.Background(), 1); err != nil {
		t.Errorf("Wait(1) = %v", err)
	}
}
