package capability

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// Token records live in shards: "tokens/<two characters>/<id>", the two
// characters being the first two of the id's random part (a-z, 2-7: 1,024
// shards, about 100 records each at 100,000 tokens). Vault's KV v2 LIST
// names, and decrypts the name of, every key in a folder, so one flat folder
// of 100,000 keys took about 5 s to list; a shard takes milliseconds. A
// shard is a prefix of the id, so walking the shards in order walks the ids
// in order, which is what the paged token list promises.
//
// Records written before sharding sit at "tokens/<id>". They are moved when
// read (see moveFlat) rather than by a migration at start: a start-time
// migration would need a lock between replicas and one LIST of the whole
// flat folder before serving (the very call that fails at scale), while a
// move on read needs neither, and every listing, and so each reaper pass,
// reads every record, so the first pass moves them all.
const tokensPrefix = "tokens/"

// movedMark is what a flat key holds for the instant between its record's
// move and its deletion: not JSON, so a replica still on the flat layout
// that reads it fails closed instead of reading an empty token.
const movedMark = "moved to the sharded layout"

// StoreKey is the store key that holds token id's record.
func StoreKey(id string) string { return tokensPrefix + id[4:6] + "/" + id }

func flatKey(id string) string { return tokensPrefix + id }

// getRecord reads id's record, moving it from its flat key first if it is
// still there.
func (r *Registry) getRecord(ctx context.Context, id string) (secrets.Record, error) {
	sr, err := r.store.Get(ctx, StoreKey(id))
	if !errors.Is(err, secrets.ErrNotFound) {
		return sr, err
	}
	return r.moveFlat(ctx, id)
}

// moveFlat copies a flat record to its sharded key (create-only, so of two
// replicas moving it one copies and the other reads the copy), then retires
// the flat key with check-and-set on the version copied: if a replica still
// on the flat layout wrote it since, the newer record is copied over the
// first, so no write is lost in a rolling upgrade.
func (r *Registry) moveFlat(ctx context.Context, id string) (secrets.Record, error) {
	old, err := r.store.Get(ctx, flatKey(id))
	if errors.Is(err, secrets.ErrNotFound) || (err == nil && string(old.Public) == movedMark) {
		// Not flat (or moved between our two reads): the sharded key decides.
		return r.store.Get(ctx, StoreKey(id))
	}
	if err != nil {
		return secrets.Record{}, err
	}
	rec := secrets.Record{Public: old.Public, Sealed: old.Sealed}
	rec.Version, err = r.store.Put(ctx, StoreKey(id), rec, secrets.CreateOnly)
	if errors.Is(err, secrets.ErrConflict) {
		// Another replica moved it, or one stopped between its copy and
		// the delete: the sharded record decides; the flat one is stale.
		r.retireFlat(ctx, id, old.Version)
		return r.store.Get(ctx, StoreKey(id))
	}
	if err != nil {
		return secrets.Record{}, fmt.Errorf("move token %s to its shard: %w", id, err)
	}
	r.bumpStamps(ctx, id)
	retired := false
	for range 3 {
		_, err = r.store.Put(ctx, flatKey(id), secrets.Record{Public: []byte(movedMark)}, old.Version)
		if retired = err == nil; retired || !errors.Is(err, secrets.ErrConflict) {
			break
		}
		old, err = r.store.Get(ctx, flatKey(id))
		if errors.Is(err, secrets.ErrNotFound) || (err == nil && string(old.Public) == movedMark) {
			// Another replica, finding our copy, retired it.
			r.log.InfoContext(ctx, "moved token record to its shard", "token_id", id, "key", StoreKey(id))
			return rec, nil
		}
		if err != nil {
			return secrets.Record{}, fmt.Errorf("move token %s: re-read its flat record: %w", id, err)
		}
		rec.Public, rec.Sealed = old.Public, old.Sealed
		if rec.Version, err = r.store.Put(ctx, StoreKey(id), rec, rec.Version); err != nil {
			return secrets.Record{}, fmt.Errorf("move token %s: copy its newer flat record: %w", id, err)
		}
		r.bumpStamps(ctx, id)
	}
	if !retired {
		return secrets.Record{}, apperr.Wrap(err, apperr.Unavailable, "move token %s: its flat record keeps changing; try again", id)
	}
	if err := r.store.Delete(ctx, flatKey(id)); err != nil {
		return secrets.Record{}, fmt.Errorf("move token %s: delete its flat record: %w", id, err)
	}
	r.log.InfoContext(ctx, "moved token record to its shard", "token_id", id, "key", StoreKey(id))
	return rec, nil
}

// retireFlat deletes a stale flat record, unless it changed since version.
func (r *Registry) retireFlat(ctx context.Context, id string, version int) {
	if _, err := r.store.Put(ctx, flatKey(id), secrets.Record{Public: []byte(movedMark)}, version); err != nil {
		return // changed (the next read moves it again) or unreachable
	}
	if err := r.store.Delete(ctx, flatKey(id)); err != nil {
		r.log.WarnContext(ctx, "cannot delete a moved token's flat record", "token_id", id, "error", err)
	}
}

// idsAfter returns up to n token ids that sort after after ("" for the
// first), in id order: the flat ones left (none once moved, see flatIDs),
// then the shards' from after's shard on, listed a few at a time until n
// are found. The shards are named, not listed, unless there are few tokens:
// a LIST of "tokens/" itself walks every key below it (0.7 s at 100,000).
func (r *Registry) idsAfter(ctx context.Context, after string, n int) ([]string, error) {
	ids, err := r.flatIDs(ctx, after, n)
	if err != nil {
		return nil, err
	}
	// Enough sharded ids that, a record mid-move being in both lists, the
	// union still holds n when n exist.
	want := n + len(ids)
	todo := shardNames
	if after != "" {
		todo = todo[slices.Index(shardNames, after[4:6]):]
	}
	found, listed, batch, sparse := 0, 0, 1, false
	for len(todo) > 0 && found < want {
		batch = min(batch, len(todo))
		need := want - found
		lists, err := r.listShards(ctx, todo[:batch], after, need)
		if err != nil {
			return nil, err
		}
		got := 0
		for _, keys := range lists {
			ids = append(ids, keys...)
			got += len(keys)
		}
		found, listed, todo = found+got, listed+batch, todo[batch:]
		// Sparse shards (few tokens): list more at once next time, up to
		// maxShardsAtOnce; with full ones a page needs one or two.
		if got < need {
			batch = min(batch*2, maxShardsAtOnce)
		}
		if !sparse && listed >= probeShards && found < sparseShard*listed && found < want {
			// So few tokens that one LIST of the shard folders (whose cost
			// grows with every key below it) is cheaper than naming the
			// rest of the 1,024: keep the shards that exist.
			if todo, err = r.existingShards(ctx, todo); err != nil {
				return nil, err
			}
			sparse = true
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return ids[:min(n, len(ids))], nil
}

// shardNames are the 1,024 shards in order: two characters of an id's
// base32 alphabet, digits sorting before letters.
var shardNames = func() []string {
	const alphabet = "234567abcdefghijklmnopqrstuvwxyz"
	out := make([]string, 0, len(alphabet)*len(alphabet))
	for _, a := range alphabet {
		for _, b := range alphabet {
			out = append(out, string(a)+string(b))
		}
	}
	return out
}()

// layoutKey marks a store whose token records are all sharded: a listing
// that finds no flat key writes it, and listings after it skip the flat
// LIST, which costs as much as the shards' whole count.
const layoutKey = "layout/tokens"

// flatIDs returns up to n ids after after still at flat keys: none, with
// no store call, once the store is marked sharded. A replica of an older
// release that creates a token after the mark writes it flat: listings
// miss it until it is first used (a lookup moves it), so finish a rolling
// upgrade before creating tokens.
func (r *Registry) flatIDs(ctx context.Context, after string, n int) ([]string, error) {
	if r.sharded.Load() {
		return nil, nil
	}
	switch _, err := r.store.Get(ctx, layoutKey); {
	case err == nil:
		r.sharded.Store(true)
		return nil, nil
	case !errors.Is(err, secrets.ErrNotFound):
		return nil, fmt.Errorf("read the token layout mark: %w", err)
	}
	from := ""
	if after != "" {
		from = flatKey(after)
	}
	keys, err := secrets.ListAfter(ctx, r.store, tokensPrefix, from, n)
	if err != nil {
		return nil, fmt.Errorf("list flat token keys: %w", err)
	}
	if after == "" && len(keys) == 0 {
		_, err := r.store.Put(ctx, layoutKey, secrets.Record{Public: []byte(`{"tokens":"sharded"}`)}, secrets.CreateOnly)
		if err != nil && !errors.Is(err, secrets.ErrConflict) {
			return nil, fmt.Errorf("mark the token layout: %w", err)
		}
		r.sharded.Store(true)
		return nil, nil
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		id := strings.TrimPrefix(k, tokensPrefix)
		if !ValidID(id) {
			continue
		}
		// Moved here, not when the page reads it: a read finds the
		// sharded record first and would leave a stale flat one listed.
		switch _, err := r.moveFlat(ctx, id); {
		case err == nil:
			ids = append(ids, id)
		case !errors.Is(err, secrets.ErrNotFound):
			return nil, err
		}
	}
	return ids, nil
}

// After probeShards shards, a listing that found fewer than sparseShard
// tokens a shard (fewer than about 2,000 tokens in all) asks which shards
// exist rather than listing each in turn.
const (
	probeShards = 7
	sparseShard = 2
)

// existingShards keeps the shards of todo that hold records.
func (r *Registry) existingShards(ctx context.Context, todo []string) ([]string, error) {
	dirs, err := r.store.Folders(ctx, tokensPrefix)
	if err != nil {
		return nil, fmt.Errorf("list token shards: %w", err)
	}
	exist := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		exist[strings.TrimSuffix(strings.TrimPrefix(d, tokensPrefix), "/")] = true
	}
	return slices.DeleteFunc(slices.Clone(todo), func(s string) bool { return !exist[s] }), nil
}

// maxShardsAtOnce bounds the shard LISTs one page makes at once.
const maxShardsAtOnce = 32

// listShards lists the ids in each of shards at once (those after after,
// at most n in each) and returns them shard by shard. An empty shard is
// an empty LIST answer, not an error.
func (r *Registry) listShards(ctx context.Context, shards []string, after string, n int) ([][]string, error) {
	out := make([][]string, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, shard := range shards {
		wg.Go(func() {
			dir := tokensPrefix + shard + "/"
			from := ""
			if after != "" && after[4:6] == shard {
				from = dir + after
			}
			keys, err := secrets.ListAfter(ctx, r.store, dir, from, n)
			if err != nil {
				errs[i] = fmt.Errorf("list token shard %s: %w", dir, err)
				return
			}
			for _, k := range keys {
				if id := strings.TrimPrefix(k, dir); ValidID(id) && id[4:6] == shard {
					out[i] = append(out[i], id)
				}
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// loadWorkers is how many records a listing reads at once: a listing of
// every token is bound by round trips to the store, not by CPU here.
const loadWorkers = 8

// loadAll reads the records of ids, loadWorkers at a time, and returns
// their infos in the order of ids, leaving out any deleted meanwhile.
func (r *Registry) loadAll(ctx context.Context, ids []string) ([]Info, error) {
	infos := make([]Info, len(ids))
	found := make([]bool, len(ids))
	err := inParallel(ctx, len(ids), "list tokens", func(ctx context.Context, i int) error {
		rec, err := r.load(ctx, ids[i], true)
		if err == nil {
			infos[i], found[i] = rec.Info, true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := infos[:0]
	for i := range infos {
		if found[i] {
			out = append(out, infos[i])
		}
	}
	return out, nil
}

// inParallel runs do(i) for each i in [0, n), loadWorkers at a time. A
// NotFound is a record deleted between the listing and the read, and is
// no error; the first other error stops the rest and is returned. what
// names the work in the error when ctx ends first.
func inParallel(ctx context.Context, n int, what string, do func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	for range min(loadWorkers, n) {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil && apperr.Code(err) != apperr.NotFound {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "%s: %v", what, err)
	}
	return nil
}
