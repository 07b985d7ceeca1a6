package capability

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/token"
)

// Token is a verified, live capability: what the guard hands to task handlers.
type Token struct {
	Info
	// Policy is Info.Policy with its rules (policy.Policy's methods), set
	// by the guard: the same data, so t.Policy.Check(…) reads as before.
	Policy  policy.Policy
	sealed  []byte
	version int
	// opened holds the secrets once decrypted, so one request opens them
	// once (one Transit round trip) however many guard steps need them.
	// A pointer, so the copies the steps receive share it.
	opened *openOnce
	// mfa is the request's counted MFA try while STS has yet to judge it.
	mfa *mfaTry
}

type openOnce struct {
	once sync.Once
	sec  sealed
	err  error
}

// secrets decrypts the token's sealed part, at most once per Token.
func (r *Registry) secrets(ctx context.Context, t Token) (sealed, error) {
	if t.opened == nil {
		return r.open(ctx, record{Info: t.Info, sealed: t.sealed})
	}
	t.opened.once.Do(func() {
		t.opened.sec, t.opened.err = r.open(ctx, record{Info: t.Info, sealed: t.sealed})
	})
	return t.opened.sec, t.opened.err
}

// Authenticate verifies a capability token and looks it up: revoked and
// expired tokens are refused here, before anything else about the request is
// read. The first step of the guard.
func (r *Registry) Authenticate(ctx context.Context, raw string) (Token, error) {
	claims, err := r.auth.Verify(ctx, token.Capability, raw)
	if err != nil {
		return Token{}, err
	}
	rec, err := r.load(ctx, claims.ID, false)
	if apperr.Code(err) == apperr.NotFound {
		// A validly signed token whose record is gone was deleted: treat it as revoked.
		return Token{}, apperr.New(apperr.TokenRevoked, "this token was revoked")
	}
	if err != nil {
		return Token{}, err
	}
	if rec.JTI != claims.JTI {
		return Token{}, apperr.New(apperr.TokenInvalid, "capability token not accepted")
	}
	switch rec.Status(r.now()) {
	case "revoked":
		return Token{}, apperr.New(apperr.TokenRevoked, "this token was revoked")
	case "expired":
		return Token{}, apperr.New(apperr.TokenExpired, "this token has expired")
	}
	return Token{Info: rec.Info, Policy: policy.Policy(rec.Policy), sealed: rec.sealed, version: rec.version, opened: &openOnce{}, mfa: &mfaTry{}}, nil
}

// CheckSignature verifies the X-Spotter-Signature of body when the token
// requires one, or when one is sent (a wrong signature is never ignored),
// and records its nonce so the same signed request is accepted once. It
// returns the nonce id, which callers may use as an idempotency key.
func (r *Registry) CheckSignature(ctx context.Context, t Token, header string, body []byte) (string, error) {
	if header == "" {
		if t.RequireSignature {
			return "", apperr.New(apperr.SignatureInvalid, "this token requires an "+token.SignatureHeader+" header")
		}
		return "", nil
	}
	sec, err := r.secrets(ctx, t)
	if err != nil {
		return "", err
	}
	now := r.now()
	var keys [][]byte
	for _, s := range sec.SigningSecrets {
		if s.Until == nil || s.Until.After(now) {
			keys = append(keys, []byte(s.Secret))
		}
	}
	if len(keys) == 0 {
		return "", apperr.New(apperr.SignatureInvalid, "this token has no signing secret; rotate one in with signingSecret: true")
	}
	nonce, err := token.VerifyBody(header, body, keys, now, token.DefaultWindow)
	for _, k := range keys {
		clear(k)
	}
	if err != nil {
		return "", err
	}
	if err := (token.ReplayGuard{Store: markerStore{r.store}}).Check(ctx, nonce); err != nil {
		return "", err
	}
	return nonce.ID, nil
}

// Credentials decrypts the token's AWS credentials for one call.
func (r *Registry) Credentials(ctx context.Context, t Token) (Credentials, error) {
	sec, err := r.secrets(ctx, t)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{AccessKeyID: sec.AccessKeyID, SecretAccessKey: sec.SecretAccessKey,
		RoleARN: t.Credentials.RoleARN, ExternalID: sec.ExternalID}, nil
}

// Revoked reports whether a token id is revoked (or gone), for the reaper.
func (r *Registry) Revoked(ctx context.Context, id string) (bool, error) {
	rec, err := r.load(ctx, id, false)
	if apperr.Code(err) == apperr.NotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return rec.RevokedAt != nil, nil
}

// RotateKeys adds a signing key; new tokens use it, old ones keep verifying.
func (r *Registry) RotateKeys(ctx context.Context, rotate func(context.Context) (string, error)) (string, error) {
	kid, err := rotate(ctx)
	if err != nil {
		return "", err
	}
	if err := r.auth.RefreshKeys(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return kid, err
	}
	r.log.InfoContext(ctx, "token signing key rotated", "kid", kid)
	return kid, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Now is the registry's clock, for callers that compute expiries.
func (r *Registry) Now() time.Time { return r.now() }

// CredentialsByID decrypts a token's credentials by id, revoked or not: the
// reaper must still end what a revoked token launched.
func (r *Registry) CredentialsByID(ctx context.Context, id string) (Credentials, Info, error) {
	rec, err := r.load(ctx, id, false)
	if err != nil {
		return Credentials{}, Info{}, err
	}
	c, err := r.Credentials(ctx, Token{Info: rec.Info, sealed: rec.sealed, version: rec.version})
	return c, rec.Info, err
}
