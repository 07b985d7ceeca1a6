package github

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// App is a GitHub App installation's credentials: the App's id, its
// private key, and the installation whose token the API calls use.
type App struct {
	ID             int64
	InstallationID int64
	Key            *rsa.PrivateKey
}

// ParseAppKey reads the App's private key as GitHub hands it out (PEM,
// PKCS#1 "RSA PRIVATE KEY" or PKCS#8).
func ParseAppKey(pem string) (*rsa.PrivateKey, error) {
	return jwt.ParseRSAPrivateKeyFromPEM([]byte(pem))
}

// appJWT is the App's own JWT as GitHub documents it: RS256, iss = the
// App id, iat a minute back (clock drift), exp 9 minutes ahead (10 max).
func appJWT(a App, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{Issuer: strconv.FormatInt(a.ID, 10),
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute))}
	return jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(a.Key)
}

// InstallationTokens mints and keeps installation tokens (an hour each),
// one per App installation and API, renewed 5 minutes before they end.
type InstallationTokens struct {
	HTTP *http.Client
	Now  func() time.Time

	mu     sync.Mutex
	tokens map[string]cached
}

type cached struct {
	token   string
	expires time.Time
}

// Token returns a live installation token for a at base.
func (t *InstallationTokens) Token(ctx context.Context, base string, a App) (string, error) {
	now := t.Now()
	key := fmt.Sprintf("%s|%d|%d", base, a.ID, a.InstallationID)
	t.mu.Lock()
	c, ok := t.tokens[key]
	t.mu.Unlock()
	if ok && now.Before(c.expires.Add(-5*time.Minute)) {
		return c.token, nil
	}
	signed, err := appJWT(a, now)
	if err != nil {
		return "", fmt.Errorf("github app: sign the App JWT: %w", err)
	}
	u := strings.TrimRight(base, "/") + "/app/installations/" + strconv.FormatInt(a.InstallationID, 10) + "/access_tokens"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+signed)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("github app: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("github app: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("github app: HTTP %d from the installation token call (check sources.github.appId, installationId and privateKey)", resp.StatusCode)
	}
	var v struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Token == "" {
		return "", fmt.Errorf("github app: the installation token reply is not GitHub's")
	}
	t.mu.Lock()
	if t.tokens == nil {
		t.tokens = map[string]cached{}
	}
	t.tokens[key] = cached{token: v.Token, expires: v.ExpiresAt}
	t.mu.Unlock()
	return v.Token, nil
}
