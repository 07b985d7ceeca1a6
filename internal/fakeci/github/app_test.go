package github_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
)

func TestAppInstallationToken(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1764547200, 0)
	s := github.Start(t, "")
	s.SetClock(func() time.Time { return now })
	s.SetApp(123456, &key.PublicKey, 777)
	s.AddRepo("octo-org/app")
	sign := func(k *rsa.PrivateKey, method jwt.SigningMethod, iss string, iat, exp time.Duration) string {
		c := jwt.MapClaims{"iss": iss, "iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()}
		var signKey any = k
		if method == jwt.SigningMethodHS256 {
			signKey = []byte("shared")
		}
		out, err := jwt.NewWithClaims(method, c).SignedString(signKey)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rs := jwt.SigningMethodRS256
	tests := []struct {
		name, jwt, path string
		want            int
	}{
		{name: "as documented", jwt: sign(key, rs, "123456", -60*time.Second, 9*time.Minute), want: 201},
		{name: "exp at 10 min", jwt: sign(key, rs, "123456", -60*time.Second, 10*time.Minute), want: 201},
		{name: "exp past 10 min", jwt: sign(key, rs, "123456", -60*time.Second, 10*time.Minute+time.Second), want: 401},
		{name: "expired", jwt: sign(key, rs, "123456", -11*time.Minute, -time.Second), want: 401},
		{name: "other app id", jwt: sign(key, rs, "654321", -60*time.Second, 9*time.Minute), want: 401},
		{name: "other key", jwt: sign(other, rs, "123456", -60*time.Second, 9*time.Minute), want: 401},
		{name: "HS256", jwt: sign(key, jwt.SigningMethodHS256, "123456", -60*time.Second, 9*time.Minute), want: 401},
		{name: "other installation", jwt: sign(key, rs, "123456", -60*time.Second, 9*time.Minute), path: "/app/installations/778/access_tokens", want: 404},
	}
	var live string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/app/installations/777/access_tokens"
			}
			resp, body := call(t, "POST", s.URL+path, "Bearer "+tt.jwt, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d; want %d (%s)", resp.StatusCode, tt.want, body)
			}
			if tt.want == 201 {
				var out struct {
					Token     string `json:"token"`
					ExpiresAt string `json:"expires_at"`
				}
				if json.Unmarshal(body, &out) != nil || out.ExpiresAt != "2025-12-01T01:00:00Z" {
					t.Fatalf("body %s", body)
				}
				live = out.Token
			}
		})
	}
	runs := s.URL + "/repos/octo-org/app/actions/runs?status=queued"
	if resp, body := call(t, "GET", runs, "Bearer "+live, ""); resp.StatusCode != 200 {
		t.Fatalf("installation token refused: %d %s", resp.StatusCode, body)
	}
	// The App JWT itself is not an API token, and the installation token
	// lasts one hour exactly.
	if resp, _ := call(t, "GET", runs, "Bearer "+sign(key, rs, "123456", -60*time.Second, 9*time.Minute), ""); resp.StatusCode != 401 {
		t.Fatalf("app JWT accepted as an API token: %d", resp.StatusCode)
	}
	now = now.Add(time.Hour - time.Second)
	if resp, _ := call(t, "GET", runs, "token "+live, ""); resp.StatusCode != 200 {
		t.Fatalf("token refused a second before expiry: %d", resp.StatusCode)
	}
	now = now.Add(time.Second)
	if resp, _ := call(t, "GET", runs, "token "+live, ""); resp.StatusCode != 401 {
		t.Fatalf("token accepted at expiry: %d", resp.StatusCode)
	}
}
