package handlers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// adminRouter serves the admin API's handlers over a real registry on an
// embedded store, without the admin guard (the server's to test).
func adminRouter(t *testing.T) *echo.Echo {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, Logger: log, PublicURL: "https://spotter.example.com", DefaultRegion: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.POST("/v1/tokens", CreateToken(reg))
	e.GET("/v1/tokens", ListTokens(reg))
	e.GET("/v1/tokens/:id", GetToken(reg))
	e.DELETE("/v1/tokens/:id", RevokeToken(reg))
	e.POST("/v1/tokens/:id/rotate", RotateToken(reg))
	e.POST("/v1/tokens/:id/unlock", UnlockToken(reg))
	e.POST("/v1/keys/rotate", RotateKeys(reg, st))
	return e
}

// adminCall sends one request and returns the reply's status and object.
func adminCall(t *testing.T, e *echo.Echo, method, target, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s = %d %s; not a JSON object: %v", method, target, rec.Code, rec.Body, err)
	}
	return rec.Code, out
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestAdminReplies pins the fields of every admin reply: which are there
// and which are not, for tokens with and without their optional parts.
func TestAdminReplies(t *testing.T) {
	e := adminRouter(t)
	const keys = `"credentials":{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`
	policy := `"policy":{"instanceTypes":["t3.micro"],"amis":["ami-12345678"]}`
	record := []string{"createdAt", "credentials", "id", "keyId", "mfa", "name", "policy", "requireSignature", "status"}
	with := func(extra ...string) []string {
		out := append(append([]string{}, record...), extra...)
		slices.Sort(out)
		return out
	}
	_, plain := adminCall(t, e, http.MethodPost, "/v1/tokens", `{"name":"plain",`+keys+`,`+policy+`}`)
	_, full := adminCall(t, e, http.MethodPost, "/v1/tokens", `{"name":"full",`+keys+`,`+policy+`,"mfa":{"totp":true},"expiresIn":"1h","requireSignature":true,"sources":{"slack":{"signingSecret":"0123456789abcdef"}}}`)
	plainID, fullID := plain["id"].(string), full["id"].(string)

	tests := []struct {
		name, method, target, body string
		got                        map[string]any // a reply made above, or nil to send this request
		wantStatus                 int
		wantKeys                   []string
	}{
		{name: "create, plain", got: plain, wantKeys: with("code", "token", "url")},
		{name: "create, every option", got: full, wantKeys: with("code", "expiresAt", "signingSecret", "sources", "token", "totp", "url")},
		{name: "show, no MFA", method: http.MethodGet, target: "/v1/tokens/" + plainID, wantStatus: 200, wantKeys: with("code")},
		{name: "show, TOTP", method: http.MethodGet, target: "/v1/tokens/" + fullID, wantStatus: 200, wantKeys: with("code", "expiresAt", "mfaLock", "sources")},
		{name: "list, a page of one", method: http.MethodGet, target: "/v1/tokens?limit=1", wantStatus: 200, wantKeys: []string{"code", "nextCursor", "tokens"}},
		{name: "list, the last page", method: http.MethodGet, target: "/v1/tokens", wantStatus: 200, wantKeys: []string{"code", "tokens"}},
		{name: "rotate the signing secret", method: http.MethodPost, target: "/v1/tokens/" + fullID + "/rotate", body: `{"signingSecret":true}`, wantStatus: 200,
			wantKeys: with("code", "expiresAt", "rotatedAt", "signingSecret", "sources")},
		{name: "unlock", method: http.MethodPost, target: "/v1/tokens/" + fullID + "/unlock", wantStatus: 200, wantKeys: []string{"code", "id", "mfaLock", "status", "wasLocked"}},
		{name: "rotate keys", method: http.MethodPost, target: "/v1/keys/rotate", wantStatus: 200, wantKeys: []string{"code", "keyId"}},
		{name: "revoke", method: http.MethodDelete, target: "/v1/tokens/" + plainID, wantStatus: 200, wantKeys: []string{"code", "id", "revokedAt", "status"}},
		{name: "show, revoked", method: http.MethodGet, target: "/v1/tokens/" + plainID, wantStatus: 200, wantKeys: with("code", "revokedAt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.got
			if got == nil {
				var status int
				status, got = adminCall(t, e, tt.method, tt.target, tt.body)
				if status != tt.wantStatus || got["code"] != float64(status) {
					t.Fatalf("%s %s = %d, code %v; want %d", tt.method, tt.target, status, got["code"], tt.wantStatus)
				}
			}
			if k := keysOf(got); !slices.Equal(k, tt.wantKeys) {
				t.Errorf("%s: fields %v; want %v", tt.name, k, tt.wantKeys)
			}
		})
	}

	// Inside list's items: a token's record and status, its mfaLock only
	// with MFA, and never the reply's code.
	_, page := adminCall(t, e, http.MethodGet, "/v1/tokens", "")
	items := page["tokens"].([]any)
	if len(items) != 2 {
		t.Fatalf("list = %d tokens; want 2", len(items))
	}
	for _, it := range items {
		item := it.(map[string]any)
		want := with("revokedAt")
		if item["id"] == fullID {
			want = with("expiresAt", "mfaLock", "rotatedAt", "sources")
		}
		if k := keysOf(item); !slices.Equal(k, want) {
			t.Errorf("list item %v: fields %v; want %v", item["id"], k, want)
		}
	}
	for _, created := range []map[string]any{plain, full} {
		if created["code"] != 201.0 {
			t.Errorf("create %v: code %v; want 201", created["name"], created["code"])
		}
	}
}
