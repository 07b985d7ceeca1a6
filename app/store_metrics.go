package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/secrets"
)

// timedStore times every store call (Vault round trips, or embedded file
// operations) for the spotter_store_call_duration_seconds histogram. It
// is a stopwatch, not a reader of the time: durations come from the
// monotonic clock (time.Since), never from Config.Now, which a test may
// hold still.
type timedStore struct {
	store
	m *metrics.Metrics
}

func (t timedStore) observe(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = apperr.Code(err)
	}
	t.m.StoreCalls.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

func (t timedStore) Get(ctx context.Context, key string) (secrets.Record, error) {
	start := time.Now()
	r, err := t.store.Get(ctx, key)
	t.observe("get", start, err)
	return r, err
}

func (t timedStore) Put(ctx context.Context, key string, rec secrets.Record, cas int) (v int, err error) {
	start := time.Now()
	v, err = t.store.Put(ctx, key, rec, cas)
	t.observe("put", start, err)
	return v, err
}

func (t timedStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := t.store.Delete(ctx, key)
	t.observe("delete", start, err)
	return err
}

func (t timedStore) List(ctx context.Context, prefix string) ([]string, error) {
	start := time.Now()
	keys, err := t.store.List(ctx, prefix)
	t.observe("list", start, err)
	return keys, err
}

func (t timedStore) Folders(ctx context.Context, prefix string) ([]string, error) {
	start := time.Now()
	dirs, err := t.store.Folders(ctx, prefix)
	t.observe("list", start, err)
	return dirs, err
}

// OpenBatch keeps Vault's batch decrypt behind the timing (one
// observation per batch, as it is one call).
func (t timedStore) OpenBatch(ctx context.Context, scopes []string, sealed [][]byte) ([][]byte, []error) {
	start := time.Now()
	plain, errs := secrets.OpenAll(ctx, t.store, scopes, sealed)
	var err error
	for _, e := range errs {
		if e != nil && !errors.Is(e, secrets.ErrOpen) {
			err = e // the store's fault, not one value's
			break
		}
	}
	t.observe("open_batch", start, err)
	return plain, errs
}

// ListAfter keeps the embedded store's paged key listing behind the timing.
func (t timedStore) ListAfter(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	start := time.Now()
	keys, err := secrets.ListAfter(ctx, t.store, prefix, after, limit)
	t.observe("list", start, err)
	return keys, err
}

func (t timedStore) Seal(ctx context.Context, scope string, plain []byte) ([]byte, error) {
	start := time.Now()
	b, err := t.store.Seal(ctx, scope, plain)
	t.observe("seal", start, err)
	return b, err
}

func (t timedStore) Open(ctx context.Context, scope string, sealed []byte) ([]byte, error) {
	start := time.Now()
	b, err := t.store.Open(ctx, scope, sealed)
	t.observe("open", start, err)
	return b, err
}

func (t timedStore) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	start := time.Now()
	b, err := t.store.Sign(ctx, kid, msg)
	t.observe("sign", start, err)
	return b, err
}

func (t timedStore) PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	start := time.Now()
	k, err := t.store.PublicKeys(ctx)
	t.observe("public_keys", start, err)
	return k, err
}
