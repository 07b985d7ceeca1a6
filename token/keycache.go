package token

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"
)

// errUnknownKID is internal: Verify turns it into apperr.TokenInvalid.
var errUnknownKID = errors.New("unknown key id")

// keyCache keeps a KeySource's public keys so a hot Verify makes no store
// round trip. An unknown kid triggers a refresh, but at most one per
// minGap: kids come from unverified headers, and a stream of invented kids
// must not turn into a stream of Vault reads.
type keyCache struct {
	src    KeySource
	now    func() time.Time
	minGap time.Duration

	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey

	// refreshMu serialises refreshes; the fields below are guarded by it.
	refreshMu   sync.Mutex
	lastRefresh time.Time
	lastErr     error
	loaded      bool
}

func newKeyCache(src KeySource, now func() time.Time, minGap time.Duration) *keyCache {
	return &keyCache{src: src, now: now, minGap: minGap}
}

func (c *keyCache) lookup(kid string) (ed25519.PublicKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[kid]
	return k, ok
}

// get returns the public key for kid, refreshing from the source when kid is
// unknown and the last refresh is older than minGap.
func (c *keyCache) get(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := c.lookup(kid); ok {
		return k, nil
	}
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	// Another caller may have refreshed while this one waited for the lock.
	if k, ok := c.lookup(kid); ok {
		return k, nil
	}
	if c.loaded || c.lastErr != nil {
		if c.now().Sub(c.lastRefresh) < c.minGap {
			if c.lastErr != nil {
				return nil, c.lastErr
			}
			return nil, errUnknownKID
		}
	}
	if err := c.refreshLocked(ctx); err != nil {
		return nil, err
	}
	if k, ok := c.lookup(kid); ok {
		return k, nil
	}
	return nil, errUnknownKID
}

// refresh reloads the keys regardless of minGap. Issue calls it when it signs
// with a kid the cache has not seen (a rotation on this replica), so the
// tokens it hands out verify at once.
func (c *keyCache) refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *keyCache) refreshLocked(ctx context.Context) error {
	c.lastRefresh = c.now()
	keys, err := c.src.PublicKeys(ctx)
	if err != nil {
		c.lastErr = fmt.Errorf("load token verification keys: %w", err)
		return c.lastErr
	}
	clean := make(map[string]ed25519.PublicKey, len(keys))
	for kid, k := range keys {
		// A key of the wrong size would make ed25519.Verify panic.
		if validKID(kid) && len(k) == ed25519.PublicKeySize {
			clean[kid] = k
		}
	}
	c.mu.Lock()
	c.keys = clean
	c.mu.Unlock()
	c.loaded, c.lastErr = true, nil
	return nil
}
