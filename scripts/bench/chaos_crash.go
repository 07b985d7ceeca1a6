package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// fleetHold stands in front of awssim: once armed, it lets awssim carry out
// the next CreateFleet and keeps the reply from the caller until the caller
// hangs up or the bench ends, as a replica killed between EC2's work and
// its answer sees it.
type fleetHold struct {
	mu      sync.Mutex
	created chan struct{} // closed when the held CreateFleet is done; nil when not armed
	release chan struct{}
}

func newFleetHold() *fleetHold { return &fleetHold{release: make(chan struct{})} }

func (h *fleetHold) arm() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.created = make(chan struct{})
	return h.created
}

// Release lets every held reply go (to callers long gone).
func (h *fleetHold) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

func (h *fleetHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var created chan struct{}
		if strings.Contains(string(body), "Action=CreateFleet") {
			h.mu.Lock()
			created, h.created = h.created, nil
			h.mu.Unlock()
		}
		if created == nil {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(httptest.NewRecorder(), r)
		close(created)
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
}

// chaosReplicaCrash kills replica 1 (-9) after EC2 carried out its
// CreateFleet and before it could answer, then sends the same launch to
// the other replicas. It runs last: replica 1 stays dead.
func chaosReplicaCrash(ctx context.Context, st *chaosStack, o chaosOptions, row func(string, string, ...any)) error {
	tok, id, _, err := st.token(ctx, o, nil)
	if err != nil {
		return err
	}
	created := st.hold.arm()
	lost := make(chan string, 1)
	go func() {
		code, _, _, err := st.call(ctx, 0, http.MethodPost, "/v1/tasks", tok, nil, []byte(`{"task":"launch","idempotencyKey":"crash"}`))
		if err != nil {
			lost <- "connection lost"
			return
		}
		lost <- http.StatusText(code)
	}()
	select {
	case <-created:
	case <-time.After(30 * time.Second):
		return errors.New("replica 1's CreateFleet did not reach awssim within 30 s")
	}
	dead := st.reps[0]
	if err := dead.cmd.Process.Kill(); err != nil {
		return err
	}
	<-dead.exited
	saw := <-lost
	start := time.Now()
	first, err := st.launchUntil(ctx, tok, "crash", 1, nil)
	if err != nil {
		return err
	}
	took := time.Since(start)
	second, err := st.launchUntil(ctx, tok, "crash", 2, nil)
	if err != nil {
		return err
	}
	mine, untagged := st.instancesOf(id)
	row("Replica killed (SIGKILL) between CreateFleet and its reply", "its client saw: %s; the retry (same Idempotency-Key) on replica 2 answered in %d ms, on replica 3 too: same instances **%t**", saw, took.Milliseconds(), slices.Equal(first, second) && len(first) == 1)
	row("→ instances started", "**%d** for the 1 asked (%d untagged)", mine, untagged)
	return nil
}
