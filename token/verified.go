package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"sync"
	"time"
)

// maxVerified bounds the verified-token cache: a replica seldom sees more
// distinct live tokens than this, and an entry is about 200 bytes.
const maxVerified = 4096

// verifiedCache remembers the tokens whose signature and claims checked out,
// so a capability URL called again costs a hash and a map lookup instead of
// an Ed25519 verification and a claims decode (about 70 µs, the largest
// cost spotter itself adds to a task). A hit answers exactly what a full
// verification would: the same bytes checked against the same key give the
// same answer, so an entry counts only while the key cache still holds the
// key it was checked with, and expiry is checked against the clock on every
// hit (anything near the edge goes to the full check, which names it).
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	kid    string
	key    ed25519.PublicKey
	claims Claims
}

func (v *verifiedCache) get(sum [sha256.Size]byte, kind Kind, keys *keyCache, now time.Time, leeway time.Duration) (Claims, bool) {
	v.mu.Lock()
	e, ok := v.entries[sum]
	v.mu.Unlock()
	if !ok || e.claims.Kind != kind {
		return Claims{}, false
	}
	if k, ok := keys.lookup(e.kid); !ok || !k.Equal(e.key) {
		return Claims{}, false
	}
	if !e.claims.ExpiresAt.IsZero() && !now.Before(e.claims.ExpiresAt.Add(leeway)) {
		return Claims{}, false
	}
	return e.claims, true
}

func (v *verifiedCache) put(sum [sha256.Size]byte, e verifiedEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.entries == nil {
		v.entries = map[[sha256.Size]byte]verifiedEntry{}
	}
	if len(v.entries) >= maxVerified {
		// Any entry will do: map order is random, and a dropped token
		// only costs one full verification.
		for k := range v.entries {
			delete(v.entries, k)
			break
		}
	}
	v.entries[sum] = e
}
