package awssim

import (
	"net/http"
	"sync"
	"time"
)

// fault is an injected error rule from /_sim/faults.
type fault struct {
	Action string  `json:"action"` // an action name, or "*" for all
	Code   string  `json:"code"`
	Rate   float64 `json:"rate"`  // share of matching calls that fail, (0, 1]
	Count  int     `json:"count"` // failures left; 0 means unlimited
	seen   uint64  // matching calls so far, which drives the schedule
	id     uint64
}

// chaosState holds injected faults and latencies. Whether a call fails is a
// function of the seed, the rule and how many matching calls it has seen, so
// a test that makes the same calls sees the same failures.
type chaosState struct {
	seed int64

	mu     sync.Mutex
	faults []*fault
	delays map[string]time.Duration
	nextID uint64
}

func newChaosState(seed int64) *chaosState {
	c := &chaosState{seed: seed}
	c.reset()
	return c
}

func (c *chaosState) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
	c.delays = map[string]time.Duration{}
	c.nextID = 0
}

func (c *chaosState) clearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

func (c *chaosState) addFault(f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	f.id = c.nextID
	c.faults = append(c.faults, &f)
}

func (c *chaosState) setLatency(action string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		delete(c.delays, action)
		return
	}
	c.delays[action] = d
}

func (c *chaosState) latency(action string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.delays) == 0 {
		return 0
	}
	if d, ok := c.delays[action]; ok {
		return d
	}
	return c.delays["*"]
}

// fault returns the injected error for this call, if a rule fires.
func (c *chaosState) fault(action string) *apiError {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.faults {
		if f.Action != action && f.Action != "*" {
			continue
		}
		f.seen++
		if unit(mix64(uint64(c.seed)^f.id<<32^f.seen)) >= f.Rate {
			continue
		}
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				c.faults = append(c.faults[:i], c.faults[i+1:]...)
			}
		}
		return &apiError{Code: f.Code, Message: "Injected fault: " + f.Code + " (awssim /_sim/faults).", Status: faultStatus(f.Code)}
	}
	return nil
}

func (c *chaosState) snapshot() ([]fault, map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := make([]fault, len(c.faults))
	for i, f := range c.faults {
		fs[i] = *f
	}
	lat := map[string]string{}
	for a, d := range c.delays {
		lat[a] = d.String()
	}
	return fs, lat
}

// faultStatus gives injected errors the status AWS uses for them, which is
// what decides whether the SDK retries.
func faultStatus(code string) int {
	switch code {
	case "RequestLimitExceeded", "Throttling", "ServiceUnavailable", "Unavailable":
		return http.StatusServiceUnavailable
	case "InternalError", "InternalFailure", "InsufficientInstanceCapacity", "InsufficientCapacity":
		return http.StatusInternalServerError
	case "AccessDenied", "UnauthorizedOperation":
		return http.StatusForbidden
	case "AuthFailure":
		return http.StatusUnauthorized
	case "DryRunOperation":
		return http.StatusPreconditionFailed
	}
	return http.StatusBadRequest
}
