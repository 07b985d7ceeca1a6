package secrets

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/spotter-dev/spotter/apperr"
)

// sealFormat is the first byte of every embedded ciphertext, so a later
// format (another AEAD, a rotated master key) can be told apart.
const sealFormat byte = 1

// keyringScope is the seal scope of the signing keys, so a sealed signing key
// cannot be opened as, or swapped with, any token's credentials.
const keyringScope = "spotter:keyring"

// ParseMasterKey decodes a master key given as base64 (standard or URL, with
// or without padding) or hex of 32 bytes; 32 raw bytes are taken as they are.
// Surrounding whitespace is ignored, so a key file or an env value with a
// trailing newline works.
func ParseMasterKey(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if len(s) == 32 && len(text) == 32 {
		return bytes.Clone(text), nil
	}
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	// Never echo the value: it is (a mangled form of) the master key.
	return nil, apperr.New(apperr.Invalid,
		"master key must be 32 bytes written as base64 (44 characters) or hex (64 characters); got %d characters (generate one with: openssl rand -base64 32)", len(s))
}

// loadOrCreateKeyFile reads the master key file, or creates it with 0600 on
// first run. A file others can read is refused rather than used: a key that
// may have leaked protects nothing.
func loadOrCreateKeyFile(path string, logger *slog.Logger) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		// O_EXCL: if two processes race on first run, one fails instead of
		// both writing different keys.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create master key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write master key file: %w", werr)
		}
		logger.Warn("created a new master key file; back it up: without it the embedded store cannot be read", "path", path)
		return key, nil
	case err != nil:
		return nil, fmt.Errorf("stat master key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, apperr.New(apperr.Invalid,
			"master key file %s has mode %04o; refusing to use it (chmod 600 it, or set SPOTTER_MASTER_KEY)", path, perm)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	key, err := ParseMasterKey(text)
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return key, nil
}

// aead returns AES-256-GCM under the key derived for scope. HKDF's info binds
// the key to the scope, so each token id gets its own key from one master.
func (e *Embedded) aead(scope string) (cipher.AEAD, error) {
	if e.closed.Load() {
		return nil, apperr.New(apperr.Unavailable, "embedded store is closed")
	}
	key, err := hkdf.Key(sha256.New, e.master, nil, "spotter secrets seal v1\x00"+scope, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns format || nonce || ciphertext. The scope is the additional
// data as well as the key derivation input: belt and braces, so that neither
// a key mix-up nor a moved ciphertext can ever open.
func (e *Embedded) seal(scope string, plaintext []byte) ([]byte, error) {
	g, err := e.aead(scope)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+g.NonceSize(), 1+g.NonceSize()+len(plaintext)+g.Overhead())
	out[0] = sealFormat
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return g.Seal(out, out[1:], plaintext, []byte(scope)), nil
}

func (e *Embedded) open(scope string, sealed []byte) ([]byte, error) {
	g, err := e.aead(scope)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+g.NonceSize()+g.Overhead() || sealed[0] != sealFormat {
		return nil, apperr.Wrap(ErrOpen, apperr.Internal, "sealed value is malformed")
	}
	n := 1 + g.NonceSize()
	pt, err := g.Open(nil, sealed[1:n], sealed[n:], []byte(scope))
	if err != nil {
		return nil, apperr.Wrap(ErrOpen, apperr.Internal, "sealed value does not open for this scope")
	}
	return pt, nil
}

// Seal implements Store.
func (e *Embedded) Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	if err := validScope(scope); err != nil {
		return nil, err
	}
	return e.seal(scope, plaintext)
}

// Open implements Store.
func (e *Embedded) Open(ctx context.Context, scope string, sealed []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	if err := validScope(scope); err != nil {
		return nil, err
	}
	return e.open(scope, sealed)
}

// The keyring bucket maps "k<N>" to the sealed 32-byte Ed25519 seed. Keys are
// created lazily: the first SigningKeyID makes k1.

func parseLocalKID(kid string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(kid, "k"))
	return n, strings.HasPrefix(kid, "k") && err == nil && n > 0
}

// newestKID returns the highest key number in the bucket, or 0.
func newestKID(b *bolt.Bucket) int {
	newest := 0
	_ = b.ForEach(func(k, _ []byte) error {
		if n, ok := parseLocalKID(string(k)); ok && n > newest {
			newest = n
		}
		return nil
	})
	return newest
}

// addKey seals a fresh seed as k<newest+1> inside tx.
func (e *Embedded) addKey(b *bolt.Bucket) (string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", err
	}
	kid := "k" + strconv.Itoa(newestKID(b)+1)
	sealed, err := e.seal(keyringScope+"/"+kid, seed)
	clear(seed)
	if err != nil {
		return "", err
	}
	return kid, b.Put([]byte(kid), sealed)
}

// SigningKeyID implements KeyRing.
func (e *Embedded) SigningKeyID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	var kid string
	err := e.db.View(func(tx *bolt.Tx) error {
		if n := newestKID(tx.Bucket(bucketKeyring)); n > 0 {
			kid = "k" + strconv.Itoa(n)
		}
		return nil
	})
	if err != nil || kid != "" {
		return kid, err
	}
	err = e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeyring)
		if n := newestKID(b); n > 0 { // another caller made it first
			kid = "k" + strconv.Itoa(n)
			return nil
		}
		var err error
		kid, err = e.addKey(b)
		if err == nil {
			e.log.Info("created the first token signing key", "kid", kid)
		}
		return err
	})
	return kid, err
}

// privateKey opens key kid.
func (e *Embedded) privateKey(kid string) (ed25519.PrivateKey, error) {
	var sealed []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		sealed = bytes.Clone(tx.Bucket(bucketKeyring).Get([]byte(kid)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		return nil, apperr.New(apperr.NotFound, "no signing key %q", kid)
	}
	seed, err := e.open(keyringScope+"/"+kid, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return ed25519.NewKeyFromSeed(seed), nil
}

// Sign implements KeyRing.
func (e *Embedded) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	if _, ok := parseLocalKID(kid); !ok {
		return nil, apperr.New(apperr.NotFound, "no signing key %q", kid)
	}
	priv, err := e.privateKey(kid)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	return ed25519.Sign(priv, msg), nil
}

// PublicKeys implements KeyRing.
func (e *Embedded) PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	var kids []string
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeyring).ForEach(func(k, _ []byte) error {
			kids = append(kids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	keys := make(map[string]ed25519.PublicKey, len(kids))
	for _, kid := range kids {
		priv, err := e.privateKey(kid)
		if err != nil {
			return nil, fmt.Errorf("open signing key %s: %w", kid, err)
		}
		keys[kid] = priv.Public().(ed25519.PublicKey)
		clear(priv)
	}
	return keys, nil
}

// Rotate implements KeyRing.
func (e *Embedded) Rotate(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	var kid string
	err := e.db.Update(func(tx *bolt.Tx) error {
		var err error
		kid, err = e.addKey(tx.Bucket(bucketKeyring))
		return err
	})
	if err == nil {
		e.log.Info("rotated the token signing key", "kid", kid)
	}
	return kid, err
}
