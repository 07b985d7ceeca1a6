// Package secrets keeps spotter's records and sealed credentials.
//
// A Store holds records under slash-separated keys ("tokens/ab/<id>",
// "totp/<id>", "nonces/<hash>"). Each record has a public part, stored as
// given, and a sealed part: bytes that Seal encrypted under a key derived for
// one scope (a token id), so a sealed value copied into another token's record
// does not open. Guarded updates use check-and-set on the record version, the
// one primitive that keeps replay guards and revocation correct when several
// replicas share one store.
//
// Two implementations: Vault (KV v2 + Transit) for production and clusters,
// and an embedded bbolt file for a single node.
package secrets

import (
	"context"
	"sort"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// Errors returned by every Store. Match them with errors.Is.
var (
	// ErrNotFound: the key holds no record.
	ErrNotFound = &apperr.Error{Code: apperr.NotFound}
	// ErrConflict: a check-and-set did not match the current version.
	ErrConflict = &apperr.Error{Code: apperr.Conflict}
	// ErrUnavailable: the backend did not answer in time, is sealed, or refused us.
	ErrUnavailable = &apperr.Error{Code: apperr.Unavailable}
)

// Version values for Put's cas argument.
const (
	// CreateOnly makes Put fail with ErrConflict if the key already holds a record.
	CreateOnly = 0
	// AnyVersion makes Put overwrite whatever is there.
	AnyVersion = -1
)

// DefaultTimeout bounds every store call whose context has no earlier deadline.
const DefaultTimeout = 5 * time.Second

// Record is what a key holds.
type Record struct {
	// Public is stored as is. Never put a secret here.
	Public []byte
	// Sealed is ciphertext from Store.Seal, or nil.
	Sealed []byte
	// Version is set by Get and Put: 1 for the first write, then +1 per write.
	Version int
}

// Store is the contract both implementations pass (see contract_test.go).
type Store interface {
	// Get returns the record at key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
	// Put writes rec at key if cas matches the current version (CreateOnly,
	// AnyVersion, or a version from Get) and returns the new version; else ErrConflict.
	Put(ctx context.Context, key string, rec Record, cas int) (int, error)
	// Delete removes the record and all its versions. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys directly under prefix ("tokens/"), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Folders returns the sub-folders directly under prefix, each as a full
	// prefix with its trailing slash ("tokens/ab/"), sorted: what holds
	// records deeper down, without naming those records.
	Folders(ctx context.Context, prefix string) ([]string, error)
	// Seal encrypts plaintext under the key derived for scope.
	Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error)
	// Open decrypts what Seal returned for the same scope; any other scope fails.
	Open(ctx context.Context, scope string, sealed []byte) ([]byte, error)
	// Ping reports whether the backend answers (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend.
	Close() error
}

// KeyPager is a Store that can list a page of keys without listing them all.
type KeyPager interface {
	// ListAfter returns at most limit keys directly under prefix that sort
	// after the full key after ("" for the first), sorted.
	ListAfter(ctx context.Context, prefix, after string, limit int) ([]string, error)
}

// ListAfter lists a page of keys with s's ListAfter when it has one, else by
// cutting its full List (a Vault KV v2 LIST has no paging: it names every
// key in the folder, but reads no record).
func ListAfter(ctx context.Context, s Store, prefix, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return []string{}, nil
	}
	if p, ok := s.(KeyPager); ok {
		return p.ListAfter(ctx, prefix, after, limit)
	}
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	keys = keys[sort.SearchStrings(keys, after):]
	if len(keys) > 0 && keys[0] == after {
		keys = keys[1:]
	}
	return keys[:min(limit, len(keys))], nil
}

// BatchOpener is a Store that can open many sealed values in one call.
type BatchOpener interface {
	// OpenBatch opens sealed[i] under scopes[i] for each i; errs[i] is
	// item i's error (ErrOpen for one that does not open).
	OpenBatch(ctx context.Context, scopes []string, sealed [][]byte) (plain [][]byte, errs []error)
}

// OpenAll opens sealed[i] under scopes[i] for each i, with s's OpenBatch
// when it has one (one Transit call for many with Vault), else one Open at
// a time. errs[i] is item i's error.
func OpenAll(ctx context.Context, s Store, scopes []string, sealed [][]byte) (plain [][]byte, errs []error) {
	if b, ok := s.(BatchOpener); ok {
		return b.OpenBatch(ctx, scopes, sealed)
	}
	plain, errs = make([][]byte, len(sealed)), make([]error, len(sealed))
	for i := range sealed {
		plain[i], errs[i] = s.Open(ctx, scopes[i], sealed[i])
	}
	return plain, errs
}
