package sources

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
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

// Activity is, per instance of the pool that its tracked jobs name, what
// they say of it (pool.Activity): the reconciler's per-instance view,
// asked of every pool each pass. A pool that never tracked a job costs
// one read; else it reads the head, the pool's record and only the shards
// whose count moved since this replica last read them (acts.go), never
// one no count was put in the head for.
func (s *Service) Activity(ctx context.Context, name string) (map[string]pool.Activity, error) {
	sr, err := s.store.Get(ctx, TrackerPrefix+name)
	if errors.Is(err, secrets.ErrNotFound) {
		return map[string]pool.Activity{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load the jobs of pool %s: %w", name, err)
	}
	rec, err := s.pools.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	head, _, err := decodeHead(rec, sr)
	if err != nil {
		return nil, err
	}
	if head.Layout < layoutSharded {
		if head, _, err = s.head(ctx, rec); err != nil { // migrated first
			return nil, err
		}
	}
	c := s.activityCache(rec)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]pool.Activity{}
	for i := range Shards {
		v := head.Shards[i].V
		if c.shards[i].v != v {
			part := map[string]pool.Activity{}
			if v > 0 {
				t, _, err := s.getShard(ctx, rec, i)
				if err != nil {
					return nil, err
				}
				for _, j := range t.Jobs {
					addActivity(part, j)
				}
			}
			c.shards[i] = shardActs{v: v, acts: part}
		}
		for id, a := range c.shards[i].acts {
			out[id] = sumActivity(out[id], a)
		}
	}
	return out, nil
}

// jobsWhere reads the jobs of the shards whose head counts satisfy want
// (say, those holding open GitHub jobs): what needs some of the pool's
// jobs without reading every shard.
func (s *Service) jobsWhere(ctx context.Context, rec pools.Record, want func(shardCount) bool) (map[string]Job, error) {
	head, _, err := s.getHead(ctx, rec)
	if err != nil {
		return nil, err
	}
	jobs := map[string]Job{}
	for i, sc := range head.Shards {
		if !want(sc) {
			continue
		}
		t, _, err := s.getShard(ctx, rec, i)
		if err != nil {
			return nil, err
		}
		for k, j := range t.Jobs {
			jobs[k] = j
		}
	}
	return jobs, nil
}
