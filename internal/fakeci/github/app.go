package github

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GitHub App auth as documented ("Generating a JSON Web Token for a GitHub
// App", "Generate an installation access token"): an RS256 JWT with iss =
// App ID, iat, and exp at most 10 minutes ahead buys, at
// POST /app/installations/{id}/access_tokens, a token that works as a
// Bearer token for one hour.

type app struct {
	id           int64
	key          *rsa.PublicKey
	installation int64
	tokens       map[string]time.Time // installation token -> expiry
}

// SetApp registers a GitHub App with its public key and one installation.
func (s *Server) SetApp(appID int64, key *rsa.PublicKey, installationID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app = &app{id: appID, key: key, installation: installationID, tokens: map[string]time.Time{}}
}

// installationToken reports whether tok is a live installation token.
func (s *Server) installationToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app == nil {
		return false
	}
	exp, ok := s.app.tokens[tok]
	return ok && s.now().Before(exp)
}

// appJWT checks the App JWT in a Bearer header; the reason is for the 401.
func (s *Server) appJWT(r *http.Request) (string, bool) {
	s.mu.Lock()
	a, now := s.app, s.now()
	s.mu.Unlock()
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if a == nil || !ok {
		return "A JSON web token could not be decoded", false
	}
	var c jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired(), jwt.WithLeeway(0))
	if err != nil {
		return "'Expiration time' claim ('exp') is too far in the future, expired, or the JWT is invalid", false
	}
	if c.Issuer != strconv.FormatInt(a.id, 10) {
		return "'Issuer' claim ('iss') must be an Integer", false
	}
	if c.IssuedAt == nil || c.ExpiresAt.Sub(now) > 10*time.Minute {
		return "'Expiration time' claim ('exp') is too far in the future", false
	}
	return "", true
}

// accessTokens answers POST /app/installations/{id}/access_tokens.
func (s *Server) accessTokens(w http.ResponseWriter, r *http.Request, id string) {
	if msg, ok := s.appJWT(r); !ok {
		writeError(w, http.StatusUnauthorized, msg)
		return
	}
	s.mu.Lock()
	if id != strconv.FormatInt(s.app.installation, 10) {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var b [20]byte
	_, _ = rand.Read(b[:])
	tok := "ghs_" + hex.EncodeToString(b[:])
	exp := s.now().Add(time.Hour).UTC().Truncate(time.Second)
	s.app.tokens[tok] = exp
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": tok, "expires_at": exp.Format(time.RFC3339),
		"permissions":          map[string]string{"actions": "read", "administration": "write", "organization_self_hosted_runners": "write"},
		"repository_selection": "all",
	})
}
