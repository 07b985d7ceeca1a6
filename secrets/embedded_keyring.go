package secrets

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/spotter-dev/spotter/apperr"
)

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
