package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestInstallationTokensKept: a token is bought once and kept until 5
// minutes before it ends; the App JWT is RS256 with iss = the App id and
// exp within GitHub's 10 minutes.
func TestInstallationTokensKept(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var minted atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		var c jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
		if err != nil || c.Issuer != "42" || c.ExpiresAt.Sub(now) > 10*time.Minute || r.URL.Path != "/app/installations/7/access_tokens" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		minted.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"token": "ghs_` + string(rune('a'+minted.Load())) + `", "expires_at": "` + now.Add(time.Hour).Format(time.RFC3339) + `"}`))
	}))
	defer srv.Close()
	it := &InstallationTokens{HTTP: srv.Client(), Now: func() time.Time { return now }}
	app := App{ID: 42, InstallationID: 7, Key: key}
	tests := []struct {
		name   string
		at     time.Duration
		minted int32
	}{
		{"first", 0, 1},
		{"kept", 30 * time.Minute, 1},
		{"at 5 minutes before the end", 55*time.Minute - time.Second, 1},
		{"renewed", 55 * time.Minute, 2},
	}
	start := now
	for _, tt := range tests {
		now = start.Add(tt.at)
		tok, err := it.Token(context.Background(), srv.URL, app)
		if err != nil || !strings.HasPrefix(tok, "ghs_") || minted.Load() != tt.minted {
			t.Fatalf("%s: token %q, %v, minted %d; want %d", tt.name, tok, err, minted.Load(), tt.minted)
		}
	}
}
