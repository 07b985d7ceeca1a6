package sources

import (
	"sync"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
)

// actsCache is what one replica read of a pool's shards for Activity:
// each shard's per-instance view under the head's version of its count
// when read. Every change to a shard's jobs moves that version, so a
// shard whose version stands is not read again.
type actsCache struct {
	mu          sync.Mutex
	incarnation string
	shards      [Shards]shardActs
}

type shardActs struct {
	v    int // the head's count version when read; -1: never read
	acts map[string]pool.Activity
}

func (s *Service) activityCache(rec pools.Record) *actsCache {
	fresh := func() *actsCache {
		c := &actsCache{incarnation: rec.Incarnation}
		for i := range c.shards {
			c.shards[i].v = -1
		}
		return c
	}
	v, _ := s.acts.LoadOrStore(rec.Pool.Name, fresh())
	c := v.(*actsCache)
	c.mu.Lock()
	stale := c.incarnation != rec.Incarnation
	c.mu.Unlock()
	if stale {
		c = fresh()
		s.acts.Store(rec.Pool.Name, c)
	}
	return c
}

// sumActivity is what two shards say of one instance together.
func sumActivity(a, b pool.Activity) pool.Activity {
	a.Running += b.Running
	a.Done += b.Done
	if b.LastDone.After(a.LastDone) {
		a.LastDone = b.LastDone
	}
	return a
}
