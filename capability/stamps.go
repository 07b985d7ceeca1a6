package capability

import (
	"context"
	"errors"
	"sync"

	"github.com/spotter-dev/spotter/secrets"
)

// Change stamps let the reaper's walk (index.go) find what changed without
// listing every shard: a LIST of a shard decrypts each key name in it
// (~5 ms for 100), so listing all 1,024 every pass cost as much as
// listing one flat folder of 100,000. After each write of a token record,
// its shard's stamp ("token-stamps/<shard>") and the global one
// ("token-stamps-all") are written again, which moves their KV versions.
// A walk reads the global stamp and, only when it moved, the shards'
// (a read each, ~0.3 ms), then lists and re-reads just the shards whose
// stamp moved. A stamp is read before its shard, and written after the
// record, so a write the walk did not see moves a stamp it will see.
// A write whose stamps were never written (a replica that stopped in
// between, or one of an older release) is found by the rolling re-list and
// re-read (RefreshPasses).
const (
	stampPrefix = "token-stamps/"
	stampAll    = "token-stamps-all"
)

// bumpStamps moves id's shard stamp and the global one. A failure is
// logged, not returned: the record is written, and the walk's rolling
// re-read finds it within RefreshPasses passes.
func (r *Registry) bumpStamps(ctx context.Context, id string) {
	for _, k := range []string{stampPrefix + id[4:6], stampAll} {
		if _, err := r.store.Put(ctx, k, secrets.Record{Public: []byte("{}")}, secrets.AnyVersion); err != nil {
			r.log.WarnContext(ctx, "token change stamp not written; the reaper sees the change within its re-read", "token_id", id, "key", k, "error", err)
			return
		}
	}
}

// stampVersion is the KV version of stamp key k, 0 if it was never written.
func (r *Registry) stampVersion(ctx context.Context, k string) (int, error) {
	rec, err := r.store.Get(ctx, k)
	if errors.Is(err, secrets.ErrNotFound) {
		return 0, nil
	}
	return rec.Version, err
}

// shardStamps reads the stamp versions of shards, loadWorkers at a time.
func (r *Registry) shardStamps(ctx context.Context, shards []string) (map[string]int, error) {
	out := make(map[string]int, len(shards))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan string)
	)
	for range min(loadWorkers, len(shards)) {
		wg.Go(func() {
			for s := range next {
				v, err := r.stampVersion(ctx, stampPrefix+s)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				out[s] = v
				mu.Unlock()
			}
		})
	}
	for _, s := range shards {
		next <- s
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}
