package handlers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackgroundWait(t *testing.T) {
	tests := []struct {
		name    string
		bg      *Background
		job     time.Duration
		timeout time.Duration
		want    bool
	}{
		{name: "every job finishes", bg: &Background{}, job: 20 * time.Millisecond, timeout: 5 * time.Second, want: true},
		{name: "a job outlives the deadline", bg: &Background{}, job: time.Second, timeout: 20 * time.Millisecond, want: false},
		{name: "nil runs untracked", bg: nil, job: 0, timeout: time.Second, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran atomic.Bool
			release := make(chan struct{})
			tt.bg.Go(func() {
				select {
				case <-time.After(tt.job):
				case <-release:
				}
				ran.Store(true)
			})
			defer close(release)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			if got := tt.bg.Wait(ctx); got != tt.want {
				t.Fatalf("Wait = %v; want %v", got, tt.want)
			}
			if tt.want && tt.bg != nil && !ran.Load() {
				t.Error("Wait returned before the job ran")
			}
		})
	}
}
