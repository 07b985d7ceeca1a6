package awssim

import (
	"maps"
	"sync"
)

// counters counts the requests each action received, answered or not, so a
// test can tell how often a client really called AWS (a cache, a retry).
type counters struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *counters) add(action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[action]++
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// Calls returns how many requests an action (EC2, STS or Price List API)
// has received since New or the last Reset, failed ones included.
func (s *Sim) Calls(action string) int {
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	return s.counters.calls[action]
}
