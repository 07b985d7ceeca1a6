package token

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spotter-dev/spotter/apperr"
)

// Errors Verify wraps, for the log; a client sees only the apperr code.
var (
	errWrongTyp    = errors.New("wrong typ header")
	errCritHeader  = errors.New("crit header not supported")
	errBadKIDValue = errors.New("kid missing or malformed")
	errBadClaims   = errors.New("required claim missing or malformed")
)

// verifiedClaims is the claim set handed to golang-jwt. Its Validate runs
// after the signature checks out, alongside the library's exp/iat/aud/iss
// checks.
type verifiedClaims struct {
	jwt.RegisteredClaims
}

func (c verifiedClaims) Validate() error {
	// Exactly one audience: WithAudience accepts any match, and a token
	// naming both audiences would otherwise pass as either kind.
	if c.Subject == "" || c.ID == "" || c.IssuedAt == nil || len(c.Audience) != 1 {
		return errBadClaims
	}
	return nil
}

// Verify checks tok as a token of kind and returns its claims. It does not
// look up revocation: the caller checks Claims.ID against the store.
//
// Errors: apperr.TokenExpired when the token is authentic but past exp;
// apperr.TokenInvalid for everything else a client sent wrong (malformed,
// oversized, bad signature, wrong alg/typ/aud/iss, unknown kid, iat in the
// future); a wrapped store error when the keys cannot be loaded.
func (a *Authority) Verify(ctx context.Context, kind Kind, tok string) (Claims, error) {
	if !kind.valid() {
		return Claims{}, fmt.Errorf("verify token: invalid kind %d", int(kind))
	}
	if tok == "" || len(tok) > MaxTokenLen {
		return Claims{}, apperr.New(apperr.TokenInvalid, "token is missing, malformed or too long")
	}
	sum := sha256.Sum256([]byte(tok))
	if c, ok := a.verified.get(sum, kind, a.cache, a.now(), a.leeway); ok {
		return c, nil
	}
	var storeErr error
	var used verifiedEntry
	keyFunc := func(t *jwt.Token) (any, error) {
		// The header is unverified here: check it before any key lookup.
		if typ, _ := t.Header["typ"].(string); typ != kind.typ() {
			return nil, errWrongTyp
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritHeader
		}
		kid, _ := t.Header["kid"].(string)
		if !validKID(kid) {
			return nil, errBadKIDValue
		}
		k, err := a.cache.get(ctx, kid)
		if err != nil && !errors.Is(err, errUnknownKID) {
			storeErr = err
		}
		used.kid, used.key = kid, k
		return k, err
	}
	var vc verifiedClaims
	parsed, err := a.parser[kind].ParseWithClaims(tok, &vc, keyFunc)
	if storeErr != nil {
		return Claims{}, storeErr
	}
	// Reject on any error or !Valid; decide "expired" only afterwards and
	// only when nothing but exp failed (CVE-2024-51744 is the v4 bug of
	// branching on the expired error first).
	if err != nil || parsed == nil || !parsed.Valid {
		if err != nil && onlyExpired(err) {
			return Claims{}, apperr.Wrap(err, apperr.TokenExpired, "token has expired")
		}
		if err == nil {
			err = errors.New("token not valid")
		}
		return Claims{}, apperr.Wrap(err, apperr.TokenInvalid, "token is not valid")
	}
	c := Claims{Kind: kind, ID: vc.Subject, JTI: vc.ID, IssuedAt: vc.IssuedAt.Time}
	if vc.ExpiresAt != nil {
		c.ExpiresAt = vc.ExpiresAt.Time
	}
	used.claims = c
	a.verified.put(sum, used)
	return c, nil
}

// onlyExpired reports whether exp is the only thing wrong with the token.
// golang-jwt checks the signature before any claim, so an expired error in
// the chain already implies a good signature; the list makes sure no other
// check failed beside it.
func onlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	notExpiry := []error{
		jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer,
		jwt.ErrTokenInvalidSubject, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidId,
		jwt.ErrTokenNotValidYet, errBadClaims,
	}
	for _, e := range notExpiry {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}
