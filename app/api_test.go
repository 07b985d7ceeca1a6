package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/vaulttest"
)

const testAdminToken = "test-admin-token-0123456789abcdef"

// clientFor trusts the self-signed certificate serve made in dataDir.
func clientFor(t *testing.T, base, dataDir string) *http.Client {
	t.Helper()
	if !strings.HasPrefix(base, "https://") {
		return http.DefaultClient
	}
	pem, err := os.ReadFile(filepath.Join(dataDir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func call(t *testing.T, c *http.Client, method, url, auth, ctype string, body []byte) (int, map[string]any, string) {
	t.Helper()
	code, v, raw, _ := e2e.Call(t, c, method, url, auth, ctype, body)
	return code, v, raw
}

// callHeader is call that also returns the reply's header.
func callHeader(t *testing.T, c *http.Client, method, url, auth, ctype string, body []byte) (int, map[string]any, string, http.Header) {
	t.Helper()
	return e2e.Call(t, c, method, url, auth, ctype, body)
}

// serveEnvs runs a test against serve with the embedded store and with Vault.
func serveEnvs(t *testing.T) map[string]map[string]string {
	envs := map[string]map[string]string{"embedded": {"SPOTTER_ADMIN_TOKEN": testAdminToken}}
	if os.Getenv("VAULT_ADDR") != "" || os.Getenv("SPOTTER_REQUIRE_VAULT") == "1" {
		srv := vaulttest.Shared(t)
		names := deploy.DefaultVaultNames()
		names.KVMount = vaulttest.Unique("api-kv")
		envs["vault"] = map[string]string{
			"SPOTTER_ADMIN_TOKEN": testAdminToken, "VAULT_ADDR": srv.Addr, "VAULT_TOKEN": srv.SpotterToken(t, names),
			"SPOTTER_VAULT_MOUNT": names.KVMount,
		}
	}
	return envs
}

func TestAdminAPI(t *testing.T) {
	for name, env := range serveEnvs(t) {
		t.Run(name, func(t *testing.T) {
			dir := dataDir(t)
			args := []string{"--addr", "127.0.0.1:0", "--data-dir", dir}
			if name == "embedded" {
				args = append(args, "--sandbox")
			}
			// The Vault variant serves HTTPS with its self-signed certificate.
			base, logs, stop := startServe(t, env, args...)
			c := clientFor(t, base, dir)
			const secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
			create := `{"name":"ci runner","credentials":{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"` + secretKey + `"},
				"mfa":{"totp":true},"requireSignature":true,"expiresIn":"1h",
				"policy":{"regions":["us-east-1"],"instanceTypes":["t3.*"],"amis":["ami-12345678"],"maxCount":2}}`

			tests := []struct {
				name       string
				method     string
				path       string
				auth       string
				ctype      string
				body       string
				wantStatus int
				wantError  string
			}{
				{name: "no admin token", method: "GET", path: "/v1/tokens", wantStatus: 401, wantError: "unauthorized"},
				{name: "wrong admin token", method: "GET", path: "/v1/tokens", auth: "nope-nope-nope-nope-nope-nope", wantStatus: 401, wantError: "unauthorized"},
				{name: "not JSON", method: "POST", path: "/v1/tokens", auth: testAdminToken, ctype: "text/plain", body: "hi", wantStatus: 415, wantError: "unsupported_media_type"},
				{name: "malformed", method: "POST", path: "/v1/tokens", auth: testAdminToken, ctype: "application/json", body: `{"name":`, wantStatus: 400, wantError: "invalid_request"},
				{name: "unknown field", method: "POST", path: "/v1/tokens", auth: testAdminToken, ctype: "application/json", body: `{"name":"x","maxprice":1}`, wantStatus: 400, wantError: "invalid_request"},
				{name: "huge body", method: "POST", path: "/v1/tokens", auth: testAdminToken, ctype: "application/json", body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, wantStatus: 413, wantError: "body_too_large"},
				{name: "unknown id", method: "GET", path: "/v1/tokens/tok_aaaaaaaaaaaaaaaaaaaa", auth: testAdminToken, wantStatus: 404, wantError: "not_found"},
				{name: "malformed id", method: "DELETE", path: "/v1/tokens/../../etc", auth: testAdminToken, wantStatus: 404, wantError: "not_found"},
				{name: "create", method: "POST", path: "/v1/tokens", auth: testAdminToken, ctype: "application/json", body: create, wantStatus: 201},
			}
			var created map[string]any
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, v, _ := call(t, c, tt.method, base+tt.path, tt.auth, tt.ctype, []byte(tt.body))
					if code != tt.wantStatus || (tt.wantError != "" && v["error"] != tt.wantError) {
						t.Fatalf("%s %s = %d %v; want %d %q", tt.method, tt.path, code, v, tt.wantStatus, tt.wantError)
					}
					if code == 201 {
						created = v
					}
				})
			}
			if created == nil {
				t.Fatal("create failed")
			}
			id, tok := created["id"].(string), created["token"].(string)
			if !strings.HasPrefix(created["url"].(string), base+"/hooks/") || created["signingSecret"] == "" {
				t.Errorf("create reply = %v", created)
			}
			totpMap, _ := created["totp"].(map[string]any)
			if totpMap == nil || totpMap["qrPng"] == "" || totpMap["secret"] == "" {
				t.Fatalf("create reply has no TOTP enrolment: %v", created)
			}
			secrets := []string{secretKey, tok, created["signingSecret"].(string), totpMap["secret"].(string)}

			_, _, list := call(t, c, "GET", base+"/v1/tokens", testAdminToken, "", nil)
			_, _, show := call(t, c, "GET", base+"/v1/tokens/"+id, testAdminToken, "", nil)
			code, rot, _ := call(t, c, "POST", base+"/v1/tokens/"+id+"/rotate", testAdminToken, "application/json", []byte(`{"signingSecret":true}`))
			if code != 200 || rot["signingSecret"] == "" || rot["signingSecret"] == created["signingSecret"] {
				t.Errorf("rotate = %d %v", code, rot)
			}
			code, rev, _ := call(t, c, "DELETE", base+"/v1/tokens/"+id, testAdminToken, "", nil)
			if code != 200 || rev["status"] != "revoked" {
				t.Errorf("revoke = %d %v", code, rev)
			}
			code, keys, _ := call(t, c, "POST", base+"/v1/keys/rotate", testAdminToken, "", nil)
			if code != 200 || keys["keyId"] == "" {
				t.Errorf("keys rotate = %d %v", code, keys)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				for where, text := range map[string]string{"list": list, "show": show, "log": logs.String()} {
					if strings.Contains(text, s) {
						t.Errorf("a secret (%d chars) appears in the %s", len(s), where)
					}
				}
			}
			if !strings.Contains(show, `"status":"active"`) || !strings.Contains(list, id) {
				t.Errorf("show = %s; list = %s", show, list)
			}
		})
	}
}
