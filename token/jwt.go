// Package token is spotter's security leaf: capability and admin JWTs
// (EdDSA), the X-Spotter-Signature body signature and the provider webhook
// signatures, and TOTP codes with a replay guard.
//
// Cross-request state (revocation, signature nonces, the last accepted TOTP
// step) lives in the caller's store; this package declares the small
// interfaces it needs (KeySource, MarkerStore, StepStore) and never imports
// the store. Every error a client may see is an *apperr.Error whose text
// never holds a token, a secret, an expected MAC or a code.
package token

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spotter-dev/spotter/apperr"
)

// Kind is a token family. Each kind has its own typ header and audience, and
// Verify checks both, so a capability token never passes as an admin token
// or the reverse (RFC 8725 §3.11, §3.12).
type Kind int

const (
	Capability Kind = iota + 1
	Admin
	// Pool is a pool's capability: it reports demand for one pool and can
	// never run a task, nor pass as a capability or admin token.
	Pool
)

func (k Kind) String() string {
	switch k {
	case Capability:
		return "capability"
	case Admin:
		return "admin"
	case Pool:
		return "pool"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func (k Kind) typ() string      { return "spotter-" + k.String() + "+jwt" }
func (k Kind) audience() string { return "spotter:" + k.String() }
func (k Kind) valid() bool      { return k == Capability || k == Admin || k == Pool }

// MaxTokenLen bounds what Verify parses. Spotter's tokens are ~400 bytes; the
// cap keeps hostile input away from the base64 and JSON decoders.
const MaxTokenLen = 4096

// Claims are the verified contents of a token.
type Claims struct {
	Kind Kind
	// ID is the token id (sub): the key the caller looks up for revocation.
	ID string
	// JTI is unique per minted JWT.
	JTI       string
	IssuedAt  time.Time
	ExpiresAt time.Time // zero when the token has no exp
}

// Config tunes an Authority. Issuer is required; the rest have defaults.
type Config struct {
	// Issuer is the iss claim, e.g. the public URL.
	Issuer string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Leeway absorbs clock skew between replicas for exp and iat; 30 s when 0.
	Leeway time.Duration
	// KeyRefreshInterval is the least time between key reloads caused by an
	// unknown kid; 5 s when 0. It is also how long another replica may
	// refuse tokens signed by a key rotated in elsewhere.
	KeyRefreshInterval time.Duration
}

// Authority mints and verifies spotter's JWTs. It is safe for concurrent use.
type Authority struct {
	keys   KeySource
	cache  *keyCache
	issuer string
	now    func() time.Time
	leeway time.Duration
	parser [4]*jwt.Parser // by Kind

	verified verifiedCache
}

// NewAuthority returns an Authority over keys.
func NewAuthority(keys KeySource, cfg Config) (*Authority, error) {
	if keys == nil || cfg.Issuer == "" {
		return nil, errors.New("token authority: key source and issuer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.KeyRefreshInterval == 0 {
		cfg.KeyRefreshInterval = 5 * time.Second
	}
	a := &Authority{
		keys:   keys,
		cache:  newKeyCache(keys, cfg.Now, cfg.KeyRefreshInterval),
		issuer: cfg.Issuer,
		now:    cfg.Now,
		leeway: cfg.Leeway,
	}
	for _, k := range []Kind{Capability, Admin, Pool} {
		a.parser[k] = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithAudience(k.audience()),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		)
	}
	return a, nil
}

// RefreshKeys reloads the public keys now; call it after a key rotation.
func (a *Authority) RefreshKeys(ctx context.Context) error { return a.cache.refresh(ctx) }

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type wireClaims struct {
	Iss string `json:"iss"`
	Aud string `json:"aud"`
	Sub string `json:"sub"`
	Jti string `json:"jti"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp,omitempty"`
}

// Issue mints a token of kind for token id. ttl 0 means no exp; a negative
// ttl is refused. The JWT is built by hand because the KeySource signs raw
// bytes (Vault Transit); the result is a standard compact EdDSA JWT.
func (a *Authority) Issue(ctx context.Context, kind Kind, id string, ttl time.Duration) (string, Claims, error) {
	if !kind.valid() || id == "" || ttl < 0 {
		return "", Claims{}, apperr.New(apperr.Invalid, "token kind, id and a non-negative ttl are required")
	}
	kid, err := a.keys.SigningKeyID(ctx)
	if err != nil {
		return "", Claims{}, fmt.Errorf("issue %s token %s: %w", kind, id, err)
	}
	if !validKID(kid) {
		return "", Claims{}, fmt.Errorf("issue %s token %s: key source returned an unusable kid", kind, id)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", Claims{}, fmt.Errorf("issue %s token %s: %w", kind, id, err)
	}
	// Whole seconds: that is what the token carries, and Claims must match
	// what Verify will return.
	now := a.now().Truncate(time.Second)
	c := Claims{Kind: kind, ID: id, JTI: hex.EncodeToString(jti[:]), IssuedAt: now}
	wc := wireClaims{Iss: a.issuer, Aud: kind.audience(), Sub: id, Jti: c.JTI, Iat: now.Unix()}
	if ttl > 0 {
		c.ExpiresAt = now.Add(ttl).Truncate(time.Second)
		wc.Exp = c.ExpiresAt.Unix()
	}
	hb, err := json.Marshal(header{Alg: jwt.SigningMethodEdDSA.Alg(), Kid: kid, Typ: kind.typ()})
	if err != nil {
		return "", Claims{}, err
	}
	cb, err := json.Marshal(wc)
	if err != nil {
		return "", Claims{}, err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sig, err := a.keys.Sign(ctx, kid, []byte(signing))
	if err != nil {
		return "", Claims{}, fmt.Errorf("issue %s token %s: sign: %w", kind, id, err)
	}
	if _, ok := a.cache.lookup(kid); !ok {
		// A key this replica has not seen: load it so our own token verifies now.
		if err := a.cache.refresh(ctx); err != nil {
			return "", Claims{}, fmt.Errorf("issue %s token %s: %w", kind, id, err)
		}
	}
	return signing + "." + enc.EncodeToString(sig), c, nil
}
