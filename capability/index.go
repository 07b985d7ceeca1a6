package capability

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"
)

// The reaper walks every token each pass. At 100,000 tokens reading every
// record each time was ~100,000 KV reads and as many Transit decrypts a
// pass (52 s against a 1 min interval), so Walk keeps the records it read
// (tokenIndex). The first walk lists every shard and reads every record;
// each walk after reads the global change stamp (stamps.go) and, only if
// it moved, every shard's, then lists and re-reads the shards whose stamp
// moved: a token created, rotated or revoked on any replica is walked as
// it is now on the next pass. Besides, each walk re-lists a rolling
// 1/RefreshPasses of the shards and re-reads as much of the records, for
// writes whose stamps were never written (a replica that stopped between
// the two, or one of an older release).
//
// A revocation never waits on any of this: the reaper asks Revoked (a read
// at most CacheTTL old) for every token that owns an instance and was not
// walked as revoked. Expiry is in each instance's own tag. And the pass
// opens credentials only for the accounts it has yet to reap: each record
// names its account (Account).

// RefreshPasses is how many walks a kept record or shard listing may serve
// before it is read again whatever the stamps say.
const RefreshPasses = 32

// tokenIndex is every token's record as last read, by id, and every
// shard's ids with the stamp version they were listed at.
type tokenIndex struct {
	walk sync.Mutex // one refresh at a time
	// mu guards what follows and each entry's account.
	mu      sync.Mutex
	walks   int
	records map[string]*indexed
	shards  map[string]*shardState // nil until the first walk
	global  int                    // the global stamp's version at the last walk
}

type shardState struct {
	ids   []string // sorted
	stamp int
}

func (s *shardState) stampOr0() int {
	if s == nil {
		return 0
	}
	return s.stamp
}

type indexed struct {
	rec record
	// account is what AccountOf found when the credentials of this
	// version were opened, for records that do not name it.
	account string
}

// update keeps rec, just read or written, in place of an older version
// the index holds: a revocation or rotation through this replica shows in
// its next walk at once.
func (x *tokenIndex) update(rec record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.records[rec.ID]; e != nil && e.rec.version < rec.version {
		rec.sealed = nil
		x.records[rec.ID] = &indexed{rec: rec}
	}
}

// Walk calls fn with each page of up to MaxPageSize tokens, revoked ones
// included, in id order, until the last page or fn's error: every token
// the store holds, each record as the index keeps it (see above). Walks
// run one at a time.
func (r *Registry) Walk(ctx context.Context, fn func(page []Info) error) error {
	if !r.sharded.Load() {
		// Records still at flat keys are moved to their shards first
		// (which moves their stamps); none once the store is marked.
		if _, err := r.flatIDs(ctx, "", math.MaxInt32); err != nil {
			return fmt.Errorf("walk tokens: %w", err)
		}
	}
	infos, err := r.index.refresh(ctx, r)
	if err != nil {
		return fmt.Errorf("walk tokens: %w", err)
	}
	for len(infos) > 0 {
		n := min(MaxPageSize, len(infos))
		if err := fn(infos[:n]); err != nil {
			return err
		}
		infos = infos[n:]
	}
	return nil
}

// refresh brings the index up to date with the store (see above) and
// returns every token's info in id order.
func (x *tokenIndex) refresh(ctx context.Context, r *Registry) ([]Info, error) {
	x.walk.Lock()
	defer x.walk.Unlock()
	x.mu.Lock()
	x.walks++
	walk, old, shards, lastGlobal := x.walks, x.records, x.shards, x.global
	x.mu.Unlock()

	// The global stamp first: a write after this read moves it again.
	global, err := r.stampVersion(ctx, stampAll)
	if err != nil {
		return nil, err
	}
	moved := map[string]bool{} // shards whose stamp moved: every record read again
	next, err := x.listing(ctx, r, shards, len(old), global != lastGlobal, walk, moved)
	if err != nil {
		return nil, err
	}
	reread := func(sh, id string) bool { return old[id] == nil || moved[sh] || due(id, walk) }
	var read []string
	for sh, st := range next {
		for _, id := range st.ids {
			if reread(sh, id) {
				read = append(read, id)
			}
		}
	}
	fresh, err := r.fetchAll(ctx, read)
	if err != nil {
		return nil, err
	}
	records := make(map[string]*indexed, len(old)+len(fresh))
	for sh, st := range next {
		kept := st.ids[:0:0]
		for _, id := range st.ids {
			e := old[id]
			if rec, ok := fresh[id]; ok {
				if e == nil || e.rec.version != rec.version {
					rec.sealed = nil // opened through the record cache, not kept here
					e = &indexed{rec: rec}
				}
			} else if reread(sh, id) {
				continue // deleted between the list and the read
			}
			records[id] = e
			kept = append(kept, id)
		}
		next[sh] = &shardState{ids: kept, stamp: st.stamp}
	}
	return x.commit(records, next, global), nil
}

// listing is the walk's view of the shards: the tokens listed again where
// the stamps say so (see above), the rest as the last walk left them.
func (x *tokenIndex) listing(ctx context.Context, r *Registry, shards map[string]*shardState, known int, changed bool,
	walk int, moved map[string]bool) (map[string]*shardState, error) {
	dense := known >= sparseShard*len(shardNames)
	if shards == nil || (!dense && (changed || walk%RefreshPasses == 0)) {
		// Few tokens (or the first walk): list them all as a listing
		// does, which names only the shards that exist, then read those
		// shards' stamps, before their records.
		return listAll(ctx, r, shards, moved)
	}
	var stamps map[string]int
	if changed {
		// Every shard's stamp, before any shard is listed.
		var err error
		if stamps, err = r.shardStamps(ctx, shardNames); err != nil {
			return nil, err
		}
	}
	return x.relisted(ctx, r, shards, stamps, walk, moved)
}

// listAll lists every token as a listing does (with few tokens, only the
// shards that exist), then reads those shards' stamps, noting in moved
// the shards whose stamp is not the one prev holds. A create this listing
// missed moves the global stamp after the walk read it; any other write
// moves its shard's stamp after the record, so either this walk reads the
// record after the write or the next walk sees the stamp move.
func listAll(ctx context.Context, r *Registry, prev map[string]*shardState, moved map[string]bool) (map[string]*shardState, error) {
	ids, err := r.idsAfter(ctx, "", math.MaxInt32)
	if err != nil {
		return nil, err
	}
	next := make(map[string]*shardState, len(shardNames))
	var present []string
	for _, id := range ids {
		sh := id[4:6]
		if next[sh] == nil {
			next[sh] = &shardState{}
			present = append(present, sh)
		}
		next[sh].ids = append(next[sh].ids, id)
	}
	stamps, err := r.shardStamps(ctx, present)
	if err != nil {
		return nil, err
	}
	for sh, st := range next {
		st.stamp = stamps[sh]
		if prev != nil && st.stamp != prev[sh].stampOr0() {
			moved[sh] = true
		}
	}
	return next, nil
}

// relisted lists again the shards whose stamp moved (noting them in
// moved) and the rolling share due on this walk, and keeps the rest.
func (x *tokenIndex) relisted(ctx context.Context, r *Registry, shards map[string]*shardState, stamps map[string]int,
	walk int, moved map[string]bool) (map[string]*shardState, error) {
	next := make(map[string]*shardState, len(shardNames))
	var list []string
	for i, sh := range shardNames {
		st := shards[sh]
		switch {
		case stamps != nil && stamps[sh] != st.stampOr0():
			list, moved[sh] = append(list, sh), true
		case i%RefreshPasses == walk%RefreshPasses:
			list = append(list, sh)
		}
		if st != nil {
			next[sh] = st
		}
	}
	return next, x.relist(ctx, r, list, stamps, next)
}

// commit makes records and shards the index, keeping what update put in
// meanwhile (a revocation through this replica) where it is newer than
// what the walk read, and returns every info in id order.
func (x *tokenIndex) commit(records map[string]*indexed, shards map[string]*shardState, global int) []Info {
	x.mu.Lock()
	for id, e := range x.records {
		if n := records[id]; n != nil && e.rec.version > n.rec.version {
			records[id] = e
		}
	}
	x.records, x.shards, x.global = records, shards, global
	x.mu.Unlock()
	infos := make([]Info, 0, len(records))
	for _, sh := range shardNames {
		if st := shards[sh]; st != nil {
			for _, id := range st.ids {
				infos = append(infos, records[id].rec.Info)
			}
		}
	}
	return infos
}

// relist lists shards, maxShardsAtOnce at a time, into next, each with
// the stamp read before it (or its last one, when stamps were not read).
func (x *tokenIndex) relist(ctx context.Context, r *Registry, shards []string, stamps map[string]int, next map[string]*shardState) error {
	for len(shards) > 0 {
		batch := shards[:min(maxShardsAtOnce, len(shards))]
		shards = shards[len(batch):]
		lists, err := r.listShards(ctx, batch, "", math.MaxInt32)
		if err != nil {
			return err
		}
		for i, sh := range batch {
			stamp := 0
			switch {
			case stamps != nil:
				stamp = stamps[sh]
			case next[sh] != nil:
				stamp = next[sh].stamp
			}
			if len(lists[i]) == 0 && stamp == 0 {
				delete(next, sh)
				continue
			}
			slices.Sort(lists[i])
			next[sh] = &shardState{ids: lists[i], stamp: stamp}
		}
	}
	return nil
}

// due reports whether walk number walk reads id's record again: each id
// once every RefreshPasses walks, the ids spread evenly over them.
func due(id string, walk int) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return (int(h.Sum32()%RefreshPasses)+walk)%RefreshPasses == 0
}

// fetchAll reads the records of ids, loadWorkers at a time, leaving out
// any deleted meanwhile. It does not fill the record cache: a walk's
// 100,000 records would sit in it until they aged out.
func (r *Registry) fetchAll(ctx context.Context, ids []string) (map[string]record, error) {
	out := make(map[string]record, len(ids))
	var mu sync.Mutex
	err := inParallel(ctx, len(ids), "walk tokens", func(ctx context.Context, i int) error {
		rec, err := r.fetch(ctx, ids[i])
		if err == nil {
			mu.Lock()
			out[ids[i]] = rec
			mu.Unlock()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
