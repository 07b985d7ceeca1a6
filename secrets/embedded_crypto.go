package secrets

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
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
	"strings"

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
