package capability

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

const adminKey = "admin/token"

// Admin checks the operator's bearer token.
type Admin struct {
	sum [sha256.Size]byte
}

// MinAdminTokenLen keeps a configured admin token from being guessable.
const MinAdminTokenLen = 24

// NewAdmin uses configured when set (SPOTTER_ADMIN_TOKEN); otherwise it
// reads the admin token kept sealed in the store, or makes and keeps one on
// first start. generated is non-empty only when this call made the token,
// so the caller prints it exactly once.
func NewAdmin(ctx context.Context, store secrets.Store, configured string) (admin *Admin, generated string, err error) {
	if configured != "" {
		if len(configured) < MinAdminTokenLen {
			return nil, "", fmt.Errorf("SPOTTER_ADMIN_TOKEN must be at least %d characters", MinAdminTokenLen)
		}
		return &Admin{sum: sha256.Sum256([]byte(configured))}, "", nil
	}
	for range 3 {
		rec, err := store.Get(ctx, adminKey)
		if err == nil {
			plain, err := store.Open(ctx, "admin", rec.Sealed)
			if err != nil {
				return nil, "", fmt.Errorf("open the stored admin token: %w", err)
			}
			a := &Admin{sum: sha256.Sum256(plain)}
			clear(plain)
			return a, "", nil
		}
		if !errors.Is(err, secrets.ErrNotFound) {
			return nil, "", fmt.Errorf("read the admin token: %w", err)
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		tok := "spa_" + base64.RawURLEncoding.EncodeToString(b)
		sealed, err := store.Seal(ctx, "admin", []byte(tok))
		if err != nil {
			return nil, "", fmt.Errorf("seal the admin token: %w", err)
		}
		_, err = store.Put(ctx, adminKey, secrets.Record{Sealed: sealed}, secrets.CreateOnly)
		if errors.Is(err, secrets.ErrConflict) {
			continue // another replica made it first: use theirs
		}
		if err != nil {
			return nil, "", fmt.Errorf("store the admin token: %w", err)
		}
		return &Admin{sum: sha256.Sum256([]byte(tok))}, tok, nil
	}
	return nil, "", errors.New("could not read or create the admin token")
}

// Check accepts an "Authorization: Bearer <admin token>" header value.
// Comparing hashes in constant time leaks neither the token nor its length.
func (a *Admin) Check(authorization string) error {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || tok == "" {
		return apperr.New(apperr.Unauth, "send the admin token as Authorization: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], a.sum[:]) != 1 {
		return apperr.New(apperr.Unauth, "admin token not accepted")
	}
	return nil
}

// Fingerprint names the admin token without revealing it (a hash of its
// hash): a console session made under one admin token ends when the
// operator changes it.
func (a *Admin) Fingerprint() string {
	sum := sha256.Sum256(append([]byte("spotter-admin-fingerprint:"), a.sum[:]...))
	return hex.EncodeToString(sum[:16])
}
