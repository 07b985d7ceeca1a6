package capability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// The record cache: each replica trusts a record it read for CacheTTL, so a
// hot token costs no store read per request, and a revocation elsewhere
// takes effect here within CacheTTL.

type cached struct {
	rec     record
	fetched time.Time
}

// load returns the record for id, from the cache when it is fresh enough.
func (r *Registry) load(ctx context.Context, id string, fresh bool) (record, error) {
	if !ValidID(id) {
		return record{}, apperr.New(apperr.NotFound, "no token %q", id)
	}
	if !fresh {
		r.mu.Lock()
		c, ok := r.cache[id]
		r.mu.Unlock()
		if ok && r.now().Sub(c.fetched) < r.cfg.CacheTTL {
			return c.rec, nil
		}
	}
	rec, err := r.fetch(ctx, id)
	if err != nil {
		return record{}, err
	}
	r.remember(rec)
	return rec, nil
}

// fetch reads id's record from the store.
func (r *Registry) fetch(ctx context.Context, id string) (record, error) {
	sr, err := r.getRecord(ctx, id)
	if errors.Is(err, secrets.ErrNotFound) {
		return record{}, apperr.New(apperr.NotFound, "no token %s", id)
	}
	if err != nil {
		return record{}, fmt.Errorf("load token %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(sr.Public, &rec); err != nil {
		return record{}, fmt.Errorf("decode token %s: %w", id, err)
	}
	rec.sealed, rec.version = sr.Sealed, sr.Version
	return rec, nil
}

// cachePurgeAt is the size past which remember drops the entries older
// than CacheTTL (no read would use them): a listing of every token would
// otherwise leave them all in the cache for good.
const cachePurgeAt = 4096

// remember puts rec in the record cache, read now.
func (r *Registry) remember(rec record) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= cachePurgeAt && now.Sub(r.purged) >= r.cfg.CacheTTL {
		for id, c := range r.cache {
			if now.Sub(c.fetched) >= r.cfg.CacheTTL {
				delete(r.cache, id)
			}
		}
		r.purged = now
	}
	r.cache[rec.ID] = cached{rec: rec, fetched: now}
	r.index.update(rec)
}
