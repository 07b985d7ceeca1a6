// Package activity keeps what the operator console shows of the recent
// past in the store, so every replica shows the same: a bounded history of
// audit events per token, the reaper's last pass, and each token's
// estimated spend today and this month. It reads no request and decides
// nothing; serve feeds it (the audit log through Tee, the reaper through
// Report and Usage) and the console reads it.
//
// The audit log stays the record of truth: what is kept here is a short,
// best-effort window onto it. A store that does not answer loses an event
// here (counted in the log), never a task.
package activity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/secrets"
)

// Store keys.
const (
	historyPrefix = "activity/history/"
	spendPrefix   = "activity/spend/"
	reaperKey     = "activity/reaper"
)

// HistoryLen is how many recent events are kept per token: enough for a
// day of a busy webhook's launches, and one small record to read.
const HistoryLen = 50

// queueLen bounds the events waiting for the store. Past it an event is
// dropped (and counted): the task that produced it must never wait.
const queueLen = 1024

// casTries bounds a check-and-set loop against other replicas' writes.
const casTries = 8

// Event is one audit event as the console shows it. Nothing in it is
// secret: the audit log writes no token, body or credential.
type Event struct {
	At        time.Time `json:"at"`
	Event     string    `json:"event"` // "task" or the reaper's "reap", "replace"
	Task      string    `json:"task,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Source    string    `json:"source,omitempty"`
	Region    string    `json:"region,omitempty"`
	Error     string    `json:"error,omitempty"` // a stable error code
	Instances []string  `json:"instances,omitempty"`
	Detail    string    `json:"detail,omitempty"` // e.g. "$0.0104/h", "expired"
	RequestID string    `json:"requestId,omitempty"`
}

type queued struct {
	token string
	ev    Event
}

// Activity writes and reads the console's records.
type Activity struct {
	store secrets.Store
	log   *slog.Logger
	now   func() time.Time

	queue chan queued
	done  chan struct{}
	// base is the writer's context: Close cancels it when the drain
	// outlasts closeGrace, so a store that does not answer cannot hold
	// shutdown for a timeout per queued token.
	base       context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex // guards dropped, closed and rates
	dropped int
	closed  bool
	// rates is each token's $/h at this replica's last Charge, so a token
	// idle then and now costs no store write.
	rates map[string]float64
}

// New starts the writer of the event history; Close stops it. now is the
// clock (nil: time.Now).
func New(store secrets.Store, log *slog.Logger, now func() time.Time) *Activity {
	if now == nil {
		now = time.Now
	}
	a := &Activity{store: store, log: log, now: now, queue: make(chan queued, queueLen), done: make(chan struct{}),
		rates: map[string]float64{}}
	a.base, a.cancelBase = context.WithCancel(context.Background())
	go a.write()
	return a
}

// Record queues e for tokenID's history without waiting; a full queue
// drops it.
func (a *Activity) Record(tokenID string, e Event) {
	if tokenID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	select {
	case a.queue <- queued{token: tokenID, ev: e}:
	default:
		a.dropped++
	}
}

// Close writes what is queued and stops the writer.
func (a *Activity) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	close(a.queue)
	a.mu.Unlock()
	t := time.AfterFunc(closeGrace, a.cancelBase)
	defer t.Stop()
	<-a.done
	a.cancelBase()
}

// closeGrace bounds how long Close spends writing what is queued.
const closeGrace = 5 * time.Second

// write drains the queue: each token's waiting events go in one
// check-and-set, so a burst of tasks costs one store write per token.
func (a *Activity) write() {
	defer close(a.done)
	for q := range a.queue {
		batch := map[string][]Event{q.token: {q.ev}}
		order := []string{q.token}
	more:
		for range queueLen {
			select {
			case q, ok := <-a.queue:
				if !ok {
					break more
				}
				if _, seen := batch[q.token]; !seen {
					order = append(order, q.token)
				}
				batch[q.token] = append(batch[q.token], q.ev)
			default:
				break more
			}
		}
		for _, tok := range order {
			if err := a.appendHistory(tok, batch[tok]); err != nil {
				a.log.Warn("activity: keep recent events", "token_id", tok, "events", len(batch[tok]), "error", err)
			}
		}
		a.mu.Lock()
		n := a.dropped
		a.dropped = 0
		a.mu.Unlock()
		if n > 0 {
			a.log.Warn("activity: events dropped, the store is slower than the tasks", "dropped", n)
		}
	}
}

func (a *Activity) appendHistory(tokenID string, evs []Event) error {
	ctx, cancel := context.WithTimeout(a.base, secrets.DefaultTimeout)
	defer cancel()
	return update(ctx, a.store, historyPrefix+tokenID, func(h *[]Event) {
		*h = append(*h, evs...)
		if len(*h) > HistoryLen {
			*h = (*h)[len(*h)-HistoryLen:]
		}
	})
}

// History returns tokenID's recent events, newest first.
func (a *Activity) History(ctx context.Context, tokenID string) ([]Event, error) {
	var h []Event
	if _, err := read(ctx, a.store, historyPrefix+tokenID, &h); err != nil {
		return nil, err
	}
	out := make([]Event, len(h))
	for i, e := range h {
		out[len(h)-1-i] = e
	}
	return out, nil
}

// read decodes the record at key into v; a missing record leaves v as it
// is and returns version 0.
func read(ctx context.Context, st secrets.Store, key string, v any) (int, error) {
	rec, err := st.Get(ctx, key)
	if errors.Is(err, secrets.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(rec.Public, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return rec.Version, nil
}

// update applies change to the record at key under check-and-set, again
// from a fresh read when another replica wrote in between.
func update[T any](ctx context.Context, st secrets.Store, key string, change func(*T)) error {
	for range casTries {
		var v T
		version, err := read(ctx, st, key, &v)
		if err != nil {
			return err
		}
		change(&v)
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		cas := version
		if version == 0 {
			cas = secrets.CreateOnly
		}
		_, err = st.Put(ctx, key, secrets.Record{Public: b}, cas)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("write %s: %d conflicting writes in a row", key, casTries)
}
