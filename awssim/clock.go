package awssim

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// simClock is the sim's time: the base clock (Options.Now, or the wall
// clock) plus an offset that control calls move, or a frozen instant that
// only control calls move. A frozen clock is a virtual one: a benchmark
// advances it and a simulated day passes in as long as the sim takes to
// process the day's events.
type simClock struct {
	base func() time.Time

	mu     sync.Mutex
	offset time.Duration
	frozen bool
	at     time.Time // the time while frozen
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return c.base().Add(c.offset)
}

// ClockState is what GET /_sim/clock answers.
type ClockState struct {
	Time   time.Time `json:"time"`
	Frozen bool      `json:"frozen"`
}

func (c *simClock) state() ClockState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return ClockState{c.at, true}
	}
	return ClockState{c.base().Add(c.offset), false}
}

// maxAdvance bounds one step; a year is far past any benchmark's need and
// keeps time arithmetic away from overflow.
const maxAdvance = 366 * 24 * time.Hour

// move sets the clock to t (when set) and then forward by d. The clock
// never goes back: the states of instances are derived from it, and an
// instance must not turn pending again.
func (c *simClock) move(t time.Time, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, errors.New("advance must not be negative: the clock only moves forward")
	}
	if d > maxAdvance {
		return time.Time{}, fmt.Errorf("advance %v is above the limit of %v per call", d, maxAdvance)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.at
	if !c.frozen {
		now = c.base().Add(c.offset)
	}
	next := now
	if !t.IsZero() {
		if t.Before(now) {
			return time.Time{}, fmt.Errorf("set %s is before the sim's time %s: the clock only moves forward", t.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
		}
		next = t
	}
	next = next.Add(d)
	if c.frozen {
		c.at = next
	} else {
		c.offset += next.Sub(now)
	}
	return next, nil
}

// freeze stops (true) or restarts (false) the clock where it stands.
func (c *simClock) freeze(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on == c.frozen {
		return
	}
	if on {
		c.at = c.base().Add(c.offset)
	} else {
		c.offset = c.at.Sub(c.base())
	}
	c.frozen = on
}

// Now is the sim's current time.
func (s *Sim) Now() time.Time { return s.clock.Now() }

// Clock reports the sim's time and whether it is frozen.
func (s *Sim) Clock() ClockState { return s.clock.state() }

// AdvanceClock moves the sim's clock forward by d and carries out, in time
// order, everything that fell due: boots that finish, rebalance
// recommendations, interruption notices, interruptions, instances that end.
// It returns the new time.
func (s *Sim) AdvanceClock(d time.Duration) (time.Time, error) {
	return s.moveClock(time.Time{}, d)
}

// SetClock moves the sim's clock forward to t, as AdvanceClock does; a t
// before the sim's time is refused.
func (s *Sim) SetClock(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, errors.New("set needs a time")
	}
	return s.moveClock(t, 0)
}

// FreezeClock stops the sim's clock where it stands (on) or lets it run
// with the base clock again from there (off). A frozen clock moves only by
// AdvanceClock and SetClock.
func (s *Sim) FreezeClock(on bool) { s.clock.freeze(on) }

func (s *Sim) moveClock(t time.Time, d time.Duration) (time.Time, error) {
	now, err := s.clock.move(t, d)
	if err != nil {
		return now, err
	}
	s.settleAll(now)
	return now, nil
}

// settleAll carries out what is due in every region, region by region in
// the catalogue's order.
func (s *Sim) settleAll(now time.Time) {
	for _, cr := range s.catalog.Regions {
		r := s.regions[cr.Name]
		r.mu.Lock()
		r.settle(now)
		r.mu.Unlock()
	}
}
