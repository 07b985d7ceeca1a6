// Package logthrottle bounds how much a flood of like events can write to
// a log. 1.45 M refused requests once wrote 682 MB; with a Limiter each key
// (a kind of refusal from one token or one client) writes its first event
// of an interval and, once the interval is over, one summary with the count
// of the events it held back. Metrics, not logs, keep the full count.
//
// Intervals are fixed windows shared by all keys, and the table of keys is
// emptied at each window's end, so memory is bounded by Max keys without an
// LRU: a key lives at most one window. Past Max distinct keys in a window,
// events of new keys are counted together and summarised as one overflow,
// so a flood from many addresses is bounded too.
package logthrottle

import (
	"sync"
	"time"
)

// Defaults for a Limiter's zero fields.
const (
	DefaultEvery = time.Minute
	DefaultMax   = 1024
)

// Summary reports the events of one key held back in one window.
type Summary[K comparable] struct {
	Key K
	// Suppressed counts the events not logged; Since is when the window began.
	Suppressed int
	Since      time.Time
	// Overflow marks the summary of the keys past Max: Key is the zero value,
	// Keys how many distinct keys it covers.
	Overflow bool
	Keys     int
}

// Limiter decides which events of each key are logged. Safe for
// concurrent use; set the fields before the first Allow.
type Limiter[K comparable] struct {
	// Every is the window (default DefaultEvery); Max the distinct keys a
	// window tracks (default DefaultMax).
	Every time.Duration
	Max   int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Emit writes a summary. It is called outside the Limiter's lock, by
	// the Allow that first sees the window over, or by Flush.
	Emit func(Summary[K])

	mu       sync.Mutex
	start    time.Time
	held     map[K]int // key → events suppressed this window
	overflow map[K]struct{}
	spilled  int
}

// Allow reports whether an event of key may be logged now: the first of
// its window. It emits the past window's summaries first, if it is over.
func (l *Limiter[K]) Allow(key K) bool {
	l.mu.Lock()
	now := l.now()
	var done []Summary[K]
	if l.held == nil || !now.Before(l.start.Add(l.every())) {
		done = l.roll(now)
	}
	ok := false
	switch n, seen := l.held[key]; {
	case seen:
		l.held[key] = n + 1
	case len(l.held) < l.max():
		l.held[key] = 0
		ok = true
	default:
		// Counting distinct overflowing keys would need unbounded memory;
		// the set is capped at Max too, past which only the count grows.
		if len(l.overflow) < l.max() {
			l.overflow[key] = struct{}{}
		}
		l.spilled++
	}
	l.mu.Unlock()
	l.emit(done)
	return ok
}

// Tick emits the past window's summaries if it is over. Calling it on
// every request (not only refused ones) writes a flood's count soon after
// the flood stops, rather than with the next refusal.
func (l *Limiter[K]) Tick() {
	l.mu.Lock()
	var done []Summary[K]
	if l.held != nil && !l.now().Before(l.start.Add(l.every())) {
		done = l.roll(l.now())
	}
	l.mu.Unlock()
	l.emit(done)
}

// Flush ends the current window, emitting its summaries (at shutdown, so
// the counts of a flood that just stopped are not lost).
func (l *Limiter[K]) Flush() {
	l.mu.Lock()
	done := l.roll(l.now())
	l.mu.Unlock()
	l.emit(done)
}

// roll closes the window and opens one at now; l.mu is held.
func (l *Limiter[K]) roll(now time.Time) []Summary[K] {
	var done []Summary[K]
	for k, n := range l.held {
		if n > 0 {
			done = append(done, Summary[K]{Key: k, Suppressed: n, Since: l.start})
		}
	}
	if l.spilled > 0 {
		done = append(done, Summary[K]{Suppressed: l.spilled, Since: l.start, Overflow: true, Keys: len(l.overflow)})
	}
	l.start, l.spilled = now, 0
	l.held, l.overflow = map[K]int{}, map[K]struct{}{}
	return done
}

func (l *Limiter[K]) emit(done []Summary[K]) {
	if l.Emit == nil {
		return
	}
	for _, s := range done {
		l.Emit(s)
	}
}

func (l *Limiter[K]) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter[K]) every() time.Duration {
	if l.Every > 0 {
		return l.Every
	}
	return DefaultEvery
}

func (l *Limiter[K]) max() int {
	if l.Max > 0 {
		return l.Max
	}
	return DefaultMax
}
