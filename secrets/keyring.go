package secrets

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
)

// KeyRing holds the Ed25519 keys that sign capability tokens. The private
// halves never leave it (Vault Transit keys are non-exportable; the embedded
// store keeps them sealed), so it signs raw bytes and publishes public keys.
//
// The key id is chosen before signing rather than returned by Sign: the kid
// sits in the JWT header, and the header is part of the signed bytes. The
// token package's KeySource declares the same three methods on its side.
type KeyRing interface {
	// SigningKeyID names the newest key, the one new tokens are signed with.
	SigningKeyID(ctx context.Context) (kid string, err error)
	// Sign returns the 64-byte pure Ed25519 signature of msg under key kid.
	// An unknown kid gives ErrNotFound.
	Sign(ctx context.Context, kid string, msg []byte) (sig []byte, err error)
	// PublicKeys returns every key that may still verify a token, by kid.
	PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error)
	// Rotate adds a key, makes it the signing key and returns its kid. Older
	// keys keep verifying.
	Rotate(ctx context.Context) (kid string, err error)
}

// Both stores provide a KeyRing.
var (
	_ KeyRing = (*Vault)(nil)
	_ KeyRing = (*Embedded)(nil)
	_ Store   = (*Vault)(nil)
	_ Store   = (*Embedded)(nil)
)

// ErrOpen is the cause (match with errors.Is) when a sealed value does not
// open: it was sealed for another scope, tampered with, or under another
// master key. The returned *apperr.Error has code Internal, because a record
// that no longer opens is a fault in storage, not a client mistake.
var ErrOpen = errors.New("sealed value does not open under this scope")

// validKey refuses keys that would escape their folder or mean different
// things to the two stores: empty segments, leading or trailing slashes, "."
// and "..". Callers build keys from ids, so this is a programming error
// surfaced as Invalid rather than a silent write to an odd path.
func validKey(key string) error {
	if key == "" || len(key) > 512 {
		return apperr.New(apperr.Invalid, "store key must be 1-512 characters")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return apperr.New(apperr.Invalid, "store key %q has an empty, '.' or '..' segment", key)
		}
		if strings.ContainsAny(seg, "\x00?#%") {
			return apperr.New(apperr.Invalid, "store key %q has a character not allowed in a path", key)
		}
	}
	return nil
}

// folder turns a List prefix into "" or "a/b/" so both stores agree on what
// "directly under" means, whether or not the caller wrote the trailing slash.
func folder(prefix string) (string, error) {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		return "", nil
	}
	if err := validKey(p); err != nil {
		return "", err
	}
	return p + "/", nil
}

func validScope(scope string) error {
	if scope == "" {
		// Transit refuses a derived key without context, and an empty scope
		// would let unrelated callers share one key: refuse it in both stores.
		return apperr.New(apperr.Invalid, "seal scope must not be empty")
	}
	return nil
}

func validCAS(cas int) error {
	if cas < AnyVersion {
		return apperr.New(apperr.Invalid, "check-and-set version %d is not CreateOnly, AnyVersion or a version", cas)
	}
	return nil
}
