package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
)

// A pool's tracked jobs are spread over Shards records,
// pooljobs/<name>/<nn> (shardwire.go), by a hash of the job's key, so a delivery reads
// and rewrites one small record, not every job the pool follows. Each
// shard also holds the delivery ids taken for its jobs: a delivery is
// taken in the same check-and-set as its job's change, and a replay (the
// same id with the same body, hence the same job) meets it there. The
// head, pooljobs/<name>, keeps the pollers' counts and each shard's
// pending and running jobs per source, with the shard version they were
// counted at, so the demand is summed from the head alone.
const Shards = 32

// JobsPerShard and DeliveriesPerShard cap each shard, so a pool holds at
// most MaxJobs jobs and MaxDeliveries ids whatever is sent.
const (
	JobsPerShard       = MaxJobs / Shards
	DeliveriesPerShard = MaxDeliveries / Shards
)

// layoutSharded marks a head whose jobs are in shards; an older head
// (layout 0) held every job and delivery itself and is migrated on first
// use.
const layoutSharded = 2

// trackerRecord is the head, pooljobs/<name>. Nothing in it or in the
// shards is secret: job ids, runner names and delivery GUIDs.
type trackerRecord struct {
	Incarnation string `json:"incarnation"`
	Layout      int    `json:"layout,omitempty"`
	// Tracker is the old layout's every job and delivery; nil once
	// migrated.
	Tracker *Tracker          `json:"tracker,omitempty"`
	Polled  map[string]Polled `json:"polled,omitempty"`
	Shards  []shardCount      `json:"shards,omitempty"`
	// LegacyUntil: until then a delivery is also checked against the
	// old layout's ids (Tracker.Legacy) in its id's shard.
	LegacyUntil time.Time `json:"legacyUntil,omitzero"`
}

// shardCount is one shard's jobs as the demand counts them: pending and
// running per source, at shard version V (a count from an older version
// never replaces a newer one).
type shardCount struct {
	V int               `json:"v"`
	C map[string][2]int `json:"c,omitempty"`
}

func shardOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % Shards)
}

func shardKey(name string, i int) string { return fmt.Sprintf("%s%s/%02d", TrackerPrefix, name, i) }

// getHead reads the pool's head as stored (an old layout is returned as
// such); one of an earlier incarnation, or none, reads as a new empty one.
func (s *Service) getHead(ctx context.Context, rec pools.Record) (trackerRecord, int, error) {
	sr, err := s.store.Get(ctx, TrackerPrefix+rec.Pool.Name)
	if errors.Is(err, secrets.ErrNotFound) {
		return freshHead(rec), secrets.CreateOnly, nil
	}
	if err != nil {
		return trackerRecord{}, 0, fmt.Errorf("load the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	return decodeHead(rec, sr)
}

func freshHead(rec pools.Record) trackerRecord {
	return trackerRecord{Incarnation: rec.Incarnation, Layout: layoutSharded, Shards: make([]shardCount, Shards)}
}

// decodeHead reads a stored head of rec's pool.
func decodeHead(rec pools.Record, sr secrets.Record) (trackerRecord, int, error) {
	fresh := freshHead(rec)
	var tr trackerRecord
	if err := json.Unmarshal(sr.Public, &tr); err != nil {
		return trackerRecord{}, 0, fmt.Errorf("decode the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	if tr.Incarnation != rec.Incarnation {
		return fresh, sr.Version, nil
	}
	if len(tr.Shards) != Shards {
		tr.Shards = make([]shardCount, Shards) // an old layout's, or another shard count's: counted again
	}
	return tr, sr.Version, nil
}

// head reads the pool's head in the sharded layout, migrating an old one.
func (s *Service) head(ctx context.Context, rec pools.Record) (trackerRecord, int, error) {
	for range 8 {
		tr, version, err := s.getHead(ctx, rec)
		if err != nil || tr.Layout >= layoutSharded {
			return tr, version, err
		}
		tr, version, err = s.migrate(ctx, rec, tr, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return tr, version, err
	}
	return trackerRecord{}, 0, apperr.New(apperr.Unavailable, "pool %s's jobs are being moved to their new layout by another replica; try again", rec.Pool.Name)
}

// migrate moves an old head's jobs and deliveries into the shards, then
// writes the head counted again from every shard, with check-and-set on
// the old head. Merging keeps each job's furthest state and every id, so
// two replicas migrating at once, or one again after a crash, agree.
func (s *Service) migrate(ctx context.Context, rec pools.Record, old trackerRecord, version int) (trackerRecord, int, error) {
	tr := trackerRecord{Incarnation: rec.Incarnation, Layout: layoutSharded, Polled: old.Polled, Shards: make([]shardCount, Shards)}
	if old.Tracker != nil {
		parts := make([]Tracker, Shards)
		for i := range parts {
			parts[i] = Tracker{Jobs: map[string]Job{}, Deliveries: map[string]time.Time{}, Legacy: map[string]time.Time{}}
		}
		for k, j := range old.Tracker.Jobs {
			parts[shardOf(k)].Jobs[k] = j
		}
		// Which job an old delivery carried is not recorded: its id goes
		// to its own shard, where deliveries look until the last expires.
		for id, at := range old.Tracker.Deliveries {
			parts[shardOf(id)].Legacy[id] = at
			if until := at.Add(DeliveryRetention); until.After(tr.LegacyUntil) {
				tr.LegacyUntil = until
			}
		}
		for i, part := range parts {
			if len(part.Jobs) == 0 && len(part.Legacy) == 0 {
				continue
			}
			if _, _, err := s.updateShard(ctx, rec, i, func(t *Tracker) (bool, error) { return t.merge(part), nil }); err != nil {
				return trackerRecord{}, 0, err
			}
		}
	}
	ts, versions, err := s.readShards(ctx, rec)
	if err != nil {
		return trackerRecord{}, 0, err
	}
	for i := range ts {
		tr.Shards[i] = shardCount{V: versions[i], C: ts[i].counts()}
	}
	b, err := json.Marshal(tr)
	if err != nil {
		return trackerRecord{}, 0, err
	}
	v, err := s.store.Put(ctx, TrackerPrefix+rec.Pool.Name, secrets.Record{Public: b}, version)
	if err != nil {
		return trackerRecord{}, 0, err
	}
	s.log.InfoContext(ctx, "ci sources: moved the pool's jobs to the sharded layout", "pool", rec.Pool.Name)
	return tr, v, nil
}

// layout is what a replica keeps of a pool's head once it is sharded.
type layout struct {
	incarnation string
	legacyUntil time.Time
}

// ensureLayout migrates the pool's old head, once per incarnation on this
// replica, before a delivery is checked against the shards.
func (s *Service) ensureLayout(ctx context.Context, rec pools.Record) (layout, error) {
	if l, ok := s.layouts.Load(rec.Pool.Name); ok && l.(layout).incarnation == rec.Incarnation {
		return l.(layout), nil
	}
	tr, _, err := s.head(ctx, rec)
	if err != nil {
		return layout{}, err
	}
	l := layout{incarnation: rec.Incarnation, legacyUntil: tr.LegacyUntil}
	s.layouts.Store(rec.Pool.Name, l)
	return l, nil
}

// takenBefore reports whether delivery was taken under the old layout:
// looked up, until the last old id expires, in the id's own shard (no
// new id is ever added there, so a read outside the job's check-and-set
// is enough).
func (s *Service) takenBefore(ctx context.Context, rec pools.Record, l layout, delivery string) (bool, error) {
	if delivery == "" || !s.now().Before(l.legacyUntil) {
		return false, nil
	}
	t, _, err := s.getShard(ctx, rec, shardOf(delivery))
	if err != nil {
		return false, err
	}
	_, ok := t.Legacy[delivery]
	return ok, nil
}

// getShard reads shard i; none, or one of an earlier incarnation, reads
// as empty.
func (s *Service) getShard(ctx context.Context, rec pools.Record, i int) (Tracker, int, error) {
	sr, err := s.store.Get(ctx, shardKey(rec.Pool.Name, i))
	if errors.Is(err, secrets.ErrNotFound) {
		return Tracker{Jobs: map[string]Job{}, Deliveries: map[string]time.Time{}}, secrets.CreateOnly, nil
	}
	if err != nil {
		return Tracker{}, 0, fmt.Errorf("load the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	inc, t, err := decodeShard(sr.Public)
	if err != nil {
		return Tracker{}, 0, fmt.Errorf("decode the jobs of pool %s: %w", rec.Pool.Name, err)
	}
	if inc != rec.Incarnation {
		t = Tracker{}
	}
	t.init()
	return t, sr.Version, nil
}

// readShards reads every shard, for what needs all the pool's jobs.
func (s *Service) readShards(ctx context.Context, rec pools.Record) ([]Tracker, []int, error) {
	ts, versions := make([]Tracker, Shards), make([]int, Shards)
	for i := range Shards {
		t, v, err := s.getShard(ctx, rec, i)
		if err != nil {
			return nil, nil, err
		}
		ts[i], versions[i] = t, v
	}
	return ts, versions, nil
}

// updateShard changes shard i with check-and-set: change reports whether
// it changed anything and may refuse; it is run again on a conflict, so
// it must not keep state. The shard is pruned as it is written, and
// written when change or the pruning changed it. It returns the shard and
// its version as stored.
func (s *Service) updateShard(ctx context.Context, rec pools.Record, i int, change func(*Tracker) (bool, error)) (Tracker, int, error) {
	for attempt := range 8 {
		if err := backoffWait(ctx, attempt); err != nil {
			return Tracker{}, 0, err
		}
		t, version, err := s.getShard(ctx, rec, i)
		if err != nil {
			return Tracker{}, 0, err
		}
		changed, err := change(&t)
		if err != nil {
			return t, version, err
		}
		if pruned := t.Prune(s.now(), JobsPerShard, DeliveriesPerShard); !changed && !pruned {
			return t, version, nil
		}
		b, err := encodeShard(rec.Incarnation, t)
		if err != nil {
			return Tracker{}, 0, err
		}
		v, err := s.store.Put(ctx, shardKey(rec.Pool.Name, i), secrets.Record{Public: b}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		if err != nil {
			return Tracker{}, 0, fmt.Errorf("store the jobs of pool %s: %w", rec.Pool.Name, err)
		}
		return t, v, nil
	}
	return Tracker{}, 0, busy(rec)
}

// updateHead changes the head with check-and-set; change reports whether
// it changed anything. It is run again on a conflict.
func (s *Service) updateHead(ctx context.Context, rec pools.Record, change func(*trackerRecord) bool) error {
	for attempt := range 8 {
		if err := backoffWait(ctx, attempt); err != nil {
			return err
		}
		tr, version, err := s.head(ctx, rec)
		if err != nil {
			return err
		}
		if !change(&tr) {
			return nil
		}
		b, err := json.Marshal(tr)
		if err != nil {
			return err
		}
		_, err = s.store.Put(ctx, TrackerPrefix+rec.Pool.Name, secrets.Record{Public: b}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store the jobs of pool %s: %w", rec.Pool.Name, err)
		}
		return nil
	}
	return busy(rec)
}

// setCount puts shard i's counts at version in the head, unless the head
// has them from that version or a later one.
func (tr *trackerRecord) setCount(i, version int, t Tracker) bool {
	if tr.Shards[i].V >= version {
		return false
	}
	tr.Shards[i] = shardCount{V: version, C: t.counts()}
	return true
}

// backoffWait waits before a retry after another replica won a
// check-and-set: a little, longer each time, at random so the two do
// not meet again.
func backoffWait(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << attempt))):
		return nil
	}
}

func busy(rec pools.Record) error {
	return apperr.New(apperr.Unavailable, "pool %s's jobs are being changed by many deliveries at once; the sender retries", rec.Pool.Name)
}

// source is the provider of a tracked job's key ("github:123").
func source(key string) string {
	src, _, _ := strings.Cut(key, ":")
	return src
}

// demandOf sums the shards' webhook-tracked jobs and every poller's
// counts; a source that is polled (Buildkite with an agent token,
// Taskcluster) counts by its poller alone, so its tracked jobs never
// count twice.
func demandOf(tr trackerRecord) pool.Demand {
	var d pool.Demand
	for _, sc := range tr.Shards {
		for src, c := range sc.C {
			if _, polled := tr.Polled[src]; polled {
				continue // the poller's count has these jobs
			}
			d.Pending += c[0]
			d.Running += c[1]
		}
	}
	for _, p := range tr.Polled {
		d.Pending += p.Pending
		d.Running += p.Running
		d.Idle += p.Idle
	}
	d.Pending, d.Running, d.Idle = min(d.Pending, pool.MaxDemand), min(d.Running, pool.MaxDemand), min(d.Idle, pool.MaxDemand)
	return d
}
