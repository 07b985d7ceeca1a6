package reaper

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// A pass that panics (here: no registry to read) is logged with its stack
// and tried again on the next tick; Run keeps going until ctx ends.
func TestRunSurvivesAPanickingPass(t *testing.T) {
	var logs syncBuf
	r := &Reaper{Interval: time.Millisecond, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), `"msg":"reaper pass panicked"`) < 2 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("want two panicking passes logged; log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(logs.String(), `"stack":"goroutine`) {
		t.Errorf("log lacks the stack:\n%s", logs.String())
	}
}
