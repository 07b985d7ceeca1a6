package capability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/secrets"
)

// A signature nonce (or provider delivery id) is accepted once: its marker
// "nonces/<id>" is created with check-and-set create, so of two replicas
// (or two releases) seeing it one wins. The key is the id alone, as it
// always was, so a marker an older release wrote still refuses a replay.
//
// A sweep used to LIST "nonces/" and read every marker to find the expired
// ones: a pass's cost grew with every live nonce. Now each marker is also
// named in an expiry bucket, "nonce-expiry/<bucket>/<id>", a bucket being
// one minute of expiry times, written beside the marker (CreateMarker),
// and a sweep lists only the buckets
// that ended since the last sweep, deleting each bucket's markers and
// then its entries. Markers written before the buckets (no bucket names
// them) are read once, by the first sweep that finds the store unmarked:
// expired ones deleted, the rest named in their buckets; then the store is
// marked ("layout/nonces") and "nonces/" is never listed again. A replica
// of an older release still writing markers after the mark leaves them
// unswept (harmless: a marker only refuses a request whose window closed),
// so finish a rolling upgrade.
const (
	noncesPrefix      = "nonces/"
	nonceBucketPrefix = "nonce-expiry/"
	nonceSweptKey     = "nonce-expiry-swept" // the last bucket swept
	nonceLayoutKey    = "layout/nonces"
	// NonceBucket is how much of expiry time one bucket holds.
	NonceBucket = time.Minute
	// NonceGrace is how long after its bucket ends a marker is kept: a
	// request verified just before its nonce expired may still be
	// writing the marker.
	NonceGrace = time.Minute
)

// nonceBucket is the bucket of markers that expire at t.
func nonceBucket(t time.Time) int64 { return t.Unix() / int64(NonceBucket/time.Second) }

func bucketDir(b int64) string { return nonceBucketPrefix + fmt.Sprintf("%012d", b) + "/" }

// markerStore keeps accepted signature nonces (see above).
type markerStore struct{ store secrets.Store }

type marker struct {
	Expires time.Time `json:"expires"`
}

func (m markerStore) CreateMarker(ctx context.Context, key string, expires time.Time) error {
	// The bucket's entry and the marker are written side by side, so a
	// signed request waits for one round trip, not two. A replay writes
	// the entry again (its own expiry's bucket), which at worst keeps the
	// marker longer. Should the entry's write fail where the marker's
	// did not, the request fails (the nonce is spent) and the marker is
	// never swept: harmless, it refuses only a request already too old.
	entry := make(chan error, 1)
	go func() {
		_, err := m.store.Put(ctx, bucketDir(nonceBucket(expires))+key, secrets.Record{Public: []byte("{}")}, secrets.AnyVersion)
		entry <- err
	}()
	b, _ := json.Marshal(marker{Expires: expires.UTC()})
	_, err := m.store.Put(ctx, noncesPrefix+key, secrets.Record{Public: b}, secrets.CreateOnly)
	if eerr := <-entry; err == nil && eerr != nil {
		return fmt.Errorf("name the nonce in its expiry bucket: %w", eerr)
	}
	return err
}

// SweepNonces deletes the markers of the buckets that ended NonceGrace
// ago or more and were not swept yet, and returns how many it removed.
// Any replica may run it; deleting twice is harmless.
func (r *Registry) SweepNonces(ctx context.Context) (int, error) {
	now := r.now()
	n, err := r.migrateNonces(ctx, now)
	if err != nil {
		return n, err
	}
	// The last bucket whose end is NonceGrace or more before now.
	last := nonceBucket(now.Add(-NonceGrace)) - 1
	buckets, err := r.bucketsUpTo(ctx, last)
	if err != nil {
		return n, err
	}
	for _, b := range buckets {
		m, err := r.sweepBucket(ctx, b)
		n += m
		if err != nil {
			return n, err
		}
	}
	if len(buckets) == 0 {
		return n, nil
	}
	// Where the next sweep starts. Two replicas sweeping at once may write
	// it in either order: an earlier bucket only means empty ones listed again.
	_, err = r.store.Put(ctx, nonceSweptKey, secrets.Record{Public: []byte(strconv.FormatInt(last, 10))}, secrets.AnyVersion)
	return n, err
}

// bucketsUpTo returns the buckets to sweep, up to last: those after the
// one the last sweep recorded, named (not listed); or, on a store never
// swept, those that exist (one LIST of the bucket folders, whose cost
// grows with every entry below it, but only once, while there are few).
func (r *Registry) bucketsUpTo(ctx context.Context, last int64) ([]int64, error) {
	var out []int64
	swept, err := r.store.Get(ctx, nonceSweptKey)
	switch {
	case err == nil:
		from, perr := strconv.ParseInt(string(swept.Public), 10, 64)
		if perr != nil {
			return nil, fmt.Errorf("read %s: %w", nonceSweptKey, perr)
		}
		for b := from + 1; b <= last; b++ {
			out = append(out, b)
		}
		return out, nil
	case !errors.Is(err, secrets.ErrNotFound):
		return nil, err
	}
	dirs, err := r.store.Folders(ctx, nonceBucketPrefix)
	if err != nil {
		return nil, fmt.Errorf("list nonce buckets: %w", err)
	}
	for _, d := range dirs {
		b, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(d, nonceBucketPrefix), "/"), 10, 64)
		if err == nil && b <= last {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		// Nothing to sweep yet; record where the next sweep starts.
		out = nil
		_, err = r.store.Put(ctx, nonceSweptKey, secrets.Record{Public: []byte(strconv.FormatInt(last, 10))}, secrets.CreateOnly)
		if err != nil && !errors.Is(err, secrets.ErrConflict) {
			return nil, err
		}
	}
	return out, nil
}

// sweepBucket deletes bucket b's markers, then its entries, a few at once.
func (r *Registry) sweepBucket(ctx context.Context, b int64) (int, error) {
	dir := bucketDir(b)
	keys, err := r.store.List(ctx, dir)
	if err != nil {
		return 0, fmt.Errorf("list nonce bucket %s: %w", dir, err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan string)
	)
	for range min(loadWorkers, len(keys)) {
		wg.Go(func() {
			for k := range next {
				err := r.store.Delete(ctx, noncesPrefix+strings.TrimPrefix(k, dir))
				if err == nil {
					err = r.store.Delete(ctx, k)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return 0, fmt.Errorf("sweep nonce bucket %s: %w", dir, errors.Join(errs...))
	}
	return len(keys), nil
}

// migrateNonces, until the store is marked, reads every marker at
// "nonces/": deletes the expired, names the rest in their buckets, and
// marks the store. It returns how many it deleted.
func (r *Registry) migrateNonces(ctx context.Context, now time.Time) (int, error) {
	if r.noncesBucketed.Load() {
		return 0, nil
	}
	switch _, err := r.store.Get(ctx, nonceLayoutKey); {
	case err == nil:
		r.noncesBucketed.Store(true)
		return 0, nil
	case !errors.Is(err, secrets.ErrNotFound):
		return 0, fmt.Errorf("read the nonce layout mark: %w", err)
	}
	keys, err := r.store.List(ctx, noncesPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		rec, err := r.store.Get(ctx, k)
		if errors.Is(err, secrets.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		var m marker
		if json.Unmarshal(rec.Public, &m) != nil || m.Expires.Before(now) {
			if err := r.store.Delete(ctx, k); err != nil {
				return n, err
			}
			n++
			continue
		}
		entry := bucketDir(nonceBucket(m.Expires)) + strings.TrimPrefix(k, noncesPrefix)
		if _, err := r.store.Put(ctx, entry, secrets.Record{Public: []byte("{}")}, secrets.AnyVersion); err != nil {
			return n, err
		}
	}
	_, err = r.store.Put(ctx, nonceLayoutKey, secrets.Record{Public: []byte(`{"nonces":"bucketed"}`)}, secrets.CreateOnly)
	if err != nil && !errors.Is(err, secrets.ErrConflict) {
		return n, fmt.Errorf("mark the nonce layout: %w", err)
	}
	r.noncesBucketed.Store(true)
	r.log.InfoContext(ctx, "signature nonces moved to expiry buckets", "deleted", n, "kept", len(keys)-n)
	return n, nil
}
