package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// KeySource holds the Ed25519 keys that sign spotter's JWTs. The private half
// may never leave it (Vault Transit keys are non-exportable), so it signs raw
// bytes and publishes only public keys.
//
// The key id is chosen before signing, not returned by Sign, because the kid
// sits inside the JWT header and the header is part of the signed bytes.
// Vault Transit fits this shape: SigningKeyID reads latest_version, Sign
// passes it as key_version.
type KeySource interface {
	// SigningKeyID names the key new tokens are signed with.
	SigningKeyID(ctx context.Context) (kid string, err error)
	// Sign returns the pure Ed25519 signature of msg under key kid.
	Sign(ctx context.Context, kid string, msg []byte) (sig []byte, err error)
	// PublicKeys returns every key that may still verify a token, by kid.
	PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error)
}

// maxKIDLen bounds a kid read from an unverified header before it reaches a
// map lookup or a log line (RFC 8725 §3.10).
const maxKIDLen = 64

// validKID reports whether kid is 1–64 characters of [A-Za-z0-9._-]. Anything
// else in a header is refused without a key lookup.
func validKID(kid string) bool {
	if kid == "" || len(kid) > maxKIDLen {
		return false
	}
	for i := 0; i < len(kid); i++ {
		c := kid[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// LocalKeys is an in-memory Ed25519 keyring for the embedded store: the store
// keeps MarshalBinary's output sealed and hands it back to UnmarshalLocalKeys
// at start. The newest key signs; older keys keep verifying until Remove.
type LocalKeys struct {
	mu      sync.RWMutex
	current string
	keys    map[string]ed25519.PrivateKey
	order   []string // kids, oldest first, so marshalled output is stable
}

var _ KeySource = (*LocalKeys)(nil)

// NewLocalKeys returns a keyring holding one fresh key.
func NewLocalKeys() (*LocalKeys, error) {
	k := &LocalKeys{keys: map[string]ed25519.PrivateKey{}}
	if _, err := k.Rotate(); err != nil {
		return nil, err
	}
	return k, nil
}

// localKID derives a kid from the public key, so a kid can never name two
// different keys, even across keyrings.
func localKID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Rotate adds a fresh key and makes it the signing key. Tokens signed by
// older keys stay valid.
func (k *LocalKeys) Rotate() (kid string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	kid = localKID(pub)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[kid] = priv
	k.order = append(k.order, kid)
	k.current = kid
	return kid, nil
}

// Remove drops an old key: tokens it signed stop verifying. The signing key
// cannot be removed.
func (k *LocalKeys) Remove(kid string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kid == k.current {
		return errors.New("remove signing key: it is the current key; rotate first")
	}
	if _, ok := k.keys[kid]; !ok {
		return nil
	}
	delete(k.keys, kid)
	for i, id := range k.order {
		if id == kid {
			k.order = append(k.order[:i], k.order[i+1:]...)
			break
		}
	}
	return nil
}

// SigningKeyID implements KeySource.
func (k *LocalKeys) SigningKeyID(context.Context) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.current == "" {
		return "", errors.New("local keyring is empty")
	}
	return k.current, nil
}

// Sign implements KeySource.
func (k *LocalKeys) Sign(_ context.Context, kid string, msg []byte) ([]byte, error) {
	k.mu.RLock()
	priv, ok := k.keys[kid]
	k.mu.RUnlock()
	if !ok {
		return nil, errors.New("sign: unknown key id")
	}
	return ed25519.Sign(priv, msg), nil
}

// PublicKeys implements KeySource.
func (k *LocalKeys) PublicKeys(context.Context) (map[string]ed25519.PublicKey, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(k.keys))
	for kid, priv := range k.keys {
		out[kid] = priv.Public().(ed25519.PublicKey)
	}
	return out, nil
}

// localKeysV1 is the marshalled form. Only seeds are kept: the rest of each
// key and its kid are derived again on load, so a tampered kid cannot stick.
type localKeysV1 struct {
	Version int      `json:"v"`
	Current string   `json:"current"`
	Seeds   [][]byte `json:"seeds"`
}

// MarshalBinary returns the keyring, private keys included. The output is a
// secret: store it only sealed.
func (k *LocalKeys) MarshalBinary() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := localKeysV1{Version: 1, Current: k.current}
	for _, kid := range k.order {
		out.Seeds = append(out.Seeds, k.keys[kid].Seed())
	}
	return json.Marshal(out)
}

// UnmarshalLocalKeys restores a keyring written by MarshalBinary.
func UnmarshalLocalKeys(b []byte) (*LocalKeys, error) {
	var in localKeysV1
	if err := json.Unmarshal(b, &in); err != nil {
		// The JSON error could quote key bytes; say only that it failed.
		return nil, errors.New("unmarshal local keys: not a keyring")
	}
	if in.Version != 1 {
		return nil, fmt.Errorf("unmarshal local keys: unsupported version %d", in.Version)
	}
	k := &LocalKeys{keys: map[string]ed25519.PrivateKey{}}
	for _, seed := range in.Seeds {
		if len(seed) != ed25519.SeedSize {
			return nil, errors.New("unmarshal local keys: bad seed length")
		}
		priv := ed25519.NewKeyFromSeed(seed)
		kid := localKID(priv.Public().(ed25519.PublicKey))
		if _, dup := k.keys[kid]; dup {
			continue
		}
		k.keys[kid] = priv
		k.order = append(k.order, kid)
	}
	if _, ok := k.keys[in.Current]; !ok {
		return nil, errors.New("unmarshal local keys: current key missing")
	}
	k.current = in.Current
	return k, nil
}

// KeyIDs lists the keyring's kids, sorted, for `spotter keys` output.
func (k *LocalKeys) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := append([]string(nil), k.order...)
	sort.Strings(ids)
	return ids
}
