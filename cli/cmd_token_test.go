package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
)

// Credentials in AWS's documentation format; awssim accepts any.
const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testAMI    = "ami-0123456789abcdef0"
)

// apiErrRe is how every server error prints: "<error>: <details> (HTTP <code>)".
var apiErrRe = regexp.MustCompile(`^[a-z][a-z_]+: .+ \(HTTP [45]\d\d\)$`)

// cliResult is what one in-process `spotter …` run produced.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runCLI runs `spotter args…` in-process with env and stdin.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), append([]string{"spotter"}, args...), envFunc(env), strings.NewReader(stdin), &out, &errb)
	return cliResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// mustCLI is runCLI that fails the test on an error.
func mustCLI(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, env, stdin, args...)
	if r.err != nil {
		t.Fatalf("spotter %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

// startAdminSandbox starts a sandbox server with a known admin token and
// returns the client environment that reaches it, and the server's log.
func startAdminSandbox(t *testing.T) (map[string]string, *syncBuffer) {
	t.Helper()
	admin := "test-admin-" + rand.Text()
	base, logs, _ := startServe(t, map[string]string{cliEnvAdminToken: admin}, "--sandbox", "--addr", "127.0.0.1:0")
	return map[string]string{cliEnvAdminToken: admin, cliEnvServer: base}, logs
}

func withEnv(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func createTestToken(t *testing.T, env map[string]string, name string, extra ...string) api.CreatedToken {
	t.Helper()
	args := append([]string{"token", "create", "--name", name, "--access-key-id", testKeyID, "--secret-access-key-stdin",
		"--region", "us-east-1", "--instance-types", "m5.large,c5.*", "--ami", testAMI, "--max-count", "2", "--json"}, extra...)
	r := mustCLI(t, env, testSecret+"\n", args...)
	var c api.CreatedToken
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("token create --json printed %q: %v", r.stdout, err)
	}
	return c
}

func findToken(list []api.TokenInfo, id string) *api.TokenInfo {
	for i := range list {
		if list[i].ID == id {
			return &list[i]
		}
	}
	return nil
}

func TestTokenRoundTrip(t *testing.T) {
	env, logs := startAdminSandbox(t)
	created := createTestToken(t, env, "ci", "--totp", "--require-signature", "--tag", "team=infra")

	for what, v := range map[string]string{"id": created.ID, "token": created.Token, "url": created.URL, "signingSecret": created.SigningSecret} {
		if v == "" {
			t.Fatalf("token create --json: %s is empty in %+v", what, created)
		}
	}
	if created.TOTP == nil || created.TOTP.Secret == "" || len(created.TOTP.QRPNG) == 0 {
		t.Fatalf("token create --totp --json: no TOTP enrolment: %+v", created.TOTP)
	}
	if !strings.HasSuffix(created.URL, "/hooks/"+created.Token) {
		t.Errorf("url = %s; want …/hooks/<token>", created.URL)
	}
	// Everything list and show must never print.
	secrets := map[string]string{
		"secret access key": testSecret,
		"capability token":  created.Token,
		"capability URL":    created.URL,
		"signing secret":    created.SigningSecret,
		"TOTP secret":       created.TOTP.Secret,
		"otpauth URL":       created.TOTP.OTPAuthURL,
		"admin token":       env[cliEnvAdminToken],
	}

	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of stdout
		json    bool     // stdout must parse as JSON
		jsonOut any
	}{
		{name: "list", args: []string{"token", "list"}, want: []string{"ID", "STATUS", created.ID, "ci", "active", "keys AKIA…MPLE", "totp"}},
		{name: "list json", args: []string{"token", "list", "--json"}, json: true, jsonOut: &[]api.TokenInfo{}},
		{name: "show", args: []string{"token", "show", created.ID}, want: []string{created.ID, "active", "required", "instanceTypes", "m5.large,c5.*", "team=infra"}},
		{name: "show json, flag after id", args: []string{"token", "show", created.ID, "--json"}, json: true, jsonOut: &api.TokenInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCLI(t, env, "", tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("spotter %v: stdout lacks %q:\n%s", tt.args, w, r.stdout)
				}
			}
			for what, s := range secrets {
				if strings.Contains(r.stdout+r.stderr, s) {
					t.Errorf("spotter %v printed the %s:\n%s%s", tt.args, what, r.stdout, r.stderr)
				}
			}
			if tt.json {
				if err := json.Unmarshal([]byte(r.stdout), tt.jsonOut); err != nil {
					t.Fatalf("spotter %v: stdout is not JSON: %v\n%s", tt.args, err, r.stdout)
				}
			}
		})
	}

	t.Run("json fields", func(t *testing.T) {
		var list []api.TokenInfo
		_ = json.Unmarshal([]byte(mustCLI(t, env, "", "token", "list", "--json").stdout), &list)
		if got := findToken(list, created.ID); got == nil || got.Status != "active" || got.MFA.Type != "totp" {
			t.Errorf("token list --json = %+v; want the active TOTP token %s", list, created.ID)
		}
		var info api.TokenInfo
		_ = json.Unmarshal([]byte(mustCLI(t, env, "", "token", "show", "--json", created.ID).stdout), &info)
		if info.Policy.MaxCount != 2 || !info.RequireSignature || info.Policy.Tags["team"] != "infra" {
			t.Errorf("token show --json = %+v; want maxCount 2, signature required, tag team=infra", info)
		}
	})

	t.Run("rotate", func(t *testing.T) {
		r := mustCLI(t, env, "", "token", "rotate", created.ID, "--signing-secret", "--totp", "--grace", "0s")
		if !strings.Contains(r.stdout, "SECRETS — shown once") || !strings.Contains(r.stdout, "Signing secret:") || !strings.Contains(r.stdout, "TOTP secret:") {
			t.Errorf("token rotate did not label the new secrets:\n%s", r.stdout)
		}
		if strings.Contains(r.stdout, created.SigningSecret) || strings.Contains(r.stdout, created.TOTP.Secret) {
			t.Errorf("token rotate printed the old secrets:\n%s", r.stdout)
		}
		var rot api.RotatedToken
		r = mustCLI(t, env, testSecret+"\n", "token", "rotate", created.ID, "--json", "--access-key-id", "AKIAI44QH8DHBEXAMPLE", "--secret-access-key-stdin")
		if err := json.Unmarshal([]byte(r.stdout), &rot); err != nil {
			t.Fatalf("token rotate --json: %v\n%s", err, r.stdout)
		}
		if rot.Credentials.AccessKeyID == "" || strings.Contains(r.stdout, testSecret) || rot.RotatedAt == nil {
			t.Errorf("token rotate --json = %s; want the masked new key, a rotatedAt and no secret key", r.stdout)
		}
		show := mustCLI(t, env, "", "token", "show", created.ID).stdout
		if !strings.Contains(show, "AKIA…MPLE") || !strings.Contains(show, "Rotated") {
			t.Errorf("token show after rotate:\n%s", show)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		r := mustCLI(t, env, "", "token", "revoke", created.ID)
		if !strings.Contains(r.stdout, "revoked "+created.ID) {
			t.Errorf("token revoke printed %q", r.stdout)
		}
		var info api.TokenInfo
		_ = json.Unmarshal([]byte(mustCLI(t, env, "", "token", "show", created.ID, "--json").stdout), &info)
		if info.Status != "revoked" || info.RevokedAt == nil {
			t.Errorf("token show after revoke: status %q revokedAt %v; want revoked", info.Status, info.RevokedAt)
		}
	})

	if strings.Contains(logs.String(), testSecret) || strings.Contains(logs.String(), created.Token) {
		t.Errorf("the server log holds a secret:\n%s", logs)
	}
}

func TestTokenCreateText(t *testing.T) {
	env, _ := startAdminSandbox(t)
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "totp.png")
	policyPath := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyPath, []byte(`{"regions":["eu-west-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Keys from the standard AWS variables; --max-count overrides the file.
	awsEnv := withEnv(env, cliEnvAWSKeyID, testKeyID, cliEnvAWSSecret, testSecret)
	r := mustCLI(t, awsEnv, "", "token", "create", "--name", "phone", "--policy-file", policyPath, "--max-count", "1",
		"--totp", "--qr", "--qr-png", pngPath, "--require-signature", "--expires-in", "24h")

	for _, w := range []string{"Token created.", "SECRETS — shown once", "Capability URL:", "Token:", "Signing secret:", "TOTP secret:", "TOTP URL:", "otpauth://", "Scan with an authenticator app", "█"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("token create stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, testSecret) {
		t.Errorf("token create printed the secret access key")
	}
	if !strings.Contains(r.stderr, "AWS_ACCESS_KEY_ID AKIA…MPLE from the environment") {
		t.Errorf("token create did not say it used the key from the environment:\n%s", r.stderr)
	}
	fi, err := os.Stat(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("--qr-png file mode = %v; want 0600 (it holds the TOTP secret)", fi.Mode().Perm())
	}
	f, _ := os.Open(pngPath)
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("--qr-png did not write a PNG: %v", err)
	}

	id := regexp.MustCompile(`(?m)^ID\s+(\S+)$`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("token create printed no ID line:\n%s", r.stdout)
	}
	var list []api.TokenInfo
	_ = json.Unmarshal([]byte(mustCLI(t, env, "", "token", "list", "--json").stdout), &list)
	got := findToken(list, id[1])
	if got == nil || got.Policy.MaxCount != 1 || got.Policy.Regions[0] != "eu-west-1" || got.ExpiresAt == nil {
		t.Errorf("token %s in list --json = %+v; want maxCount 1 (flag over file), eu-west-1 (file), an expiry", id[1], got)
	}
}

func TestTokenErrors(t *testing.T) {
	env, _ := startAdminSandbox(t)
	created := createTestToken(t, env, "victim")
	noAdmin := withEnv(env, cliEnvAdminToken, "")
	wrongAdmin := withEnv(env, cliEnvAdminToken, "not-the-admin-token-0123456789")
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(badPolicy, []byte(`{"regions":["us-east-1"],"maxCuont":5}`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     map[string]string
		stdin   string
		args    []string
		wantErr string // substring of the error
		api     bool   // a server error: "<error>: <details> (HTTP <code>)"
	}{
		{name: "unknown id", env: env, args: []string{"token", "show", "tok_doesnotexist"}, wantErr: "not_found", api: true},
		{name: "revoke unknown id", env: env, args: []string{"token", "revoke", "tok_doesnotexist"}, wantErr: "(HTTP 404)", api: true},
		{name: "wrong admin token", env: wrongAdmin, args: []string{"token", "list"}, wantErr: "unauthorized: admin token not accepted (HTTP 401)", api: true},
		{name: "invalid policy", env: env, stdin: testSecret, args: []string{"token", "create", "--name", "x", "--access-key-id", testKeyID, "--secret-access-key-stdin", "--region", "mars-1"}, wantErr: "invalid_request", api: true},
		{name: "rotate nothing named", env: env, args: []string{"token", "rotate", created.ID}, wantErr: "name what to rotate"},
		{name: "no admin token", env: noAdmin, args: []string{"token", "list"}, wantErr: "no admin token: set SPOTTER_ADMIN_TOKEN"},
		{name: "no credentials", env: env, args: []string{"token", "create", "--name", "x"}, wantErr: "name credentials"},
		{name: "key without its secret", env: env, args: []string{"token", "create", "--name", "x", "--access-key-id", testKeyID}, wantErr: "needs its secret"},
		{name: "empty secret on stdin", env: env, args: []string{"token", "create", "--name", "x", "--access-key-id", testKeyID, "--secret-access-key-stdin"}, wantErr: "got nothing"},
		{name: "no name", env: env, args: []string{"token", "create"}, wantErr: "--name is required"},
		{name: "qr without totp", env: env, args: []string{"token", "create", "--name", "x", "--qr"}, wantErr: "add --totp"},
		{name: "misspelt policy field", env: env, stdin: testSecret, args: []string{"token", "create", "--name", "x", "--access-key-id", testKeyID, "--secret-access-key-stdin", "--policy-file", badPolicy}, wantErr: `unknown field "maxCuont"`},
		{name: "unknown subcommand", env: env, args: []string{"token", "destroy"}, wantErr: `unknown command "token destroy"`},
		{name: "plain HTTP off loopback", env: withEnv(env, cliEnvServer, "http://spotter.example.com"), args: []string{"token", "list"}, wantErr: "plain HTTP would send tokens in the clear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, tt.stdin, tt.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Fatalf("spotter %v = %v; want an error containing %q", tt.args, r.err, tt.wantErr)
			}
			if tt.api && !apiErrRe.MatchString(r.err.Error()) {
				t.Errorf("spotter %v = %q; want <error>: <details> (HTTP <code>)", tt.args, r.err)
			}
			for _, s := range []string{env[cliEnvAdminToken], testSecret, created.Token} {
				if strings.Contains(r.err.Error()+r.stdout+r.stderr, s) {
					t.Errorf("spotter %v: output or error holds a secret %q", tt.args, s)
				}
			}
		})
	}
}

func TestKeysRotate(t *testing.T) {
	env, _ := startAdminSandbox(t)
	before := createTestToken(t, env, "before")
	var k api.KeyRotation
	r := mustCLI(t, env, "", "keys", "rotate", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.KeyID == "" {
		t.Fatalf("keys rotate --json = %q, %v; want a keyId", r.stdout, err)
	}
	after := createTestToken(t, env, "after")
	if after.KeyID != k.KeyID || before.KeyID == k.KeyID {
		t.Errorf("key ids: before %q, rotated %q, after %q; want new tokens on the new key", before.KeyID, k.KeyID, after.KeyID)
	}
	if r := mustCLI(t, env, "", "keys", "rotate"); !strings.Contains(r.stdout, "new signing key ") {
		t.Errorf("keys rotate printed %q", r.stdout)
	}
	// The old token still shows as active: rotation does not end it.
	if out := mustCLI(t, env, "", "token", "show", before.ID).stdout; !strings.Contains(out, "active") {
		t.Errorf("token show of a token on the old key:\n%s", out)
	}
}

// TestTokenTLS reaches a real HTTPS server with a self-signed certificate:
// refused by default, accepted with --cacert or the pinned fingerprint,
// and with --insecure only with a warning.
func TestTokenTLS(t *testing.T) {
	dir := dataDir(t)
	admin := "test-admin-" + rand.Text()
	base, logs, _ := startServe(t, map[string]string{cliEnvAdminToken: admin}, "--addr", "127.0.0.1:0", "--data-dir", dir)
	fp := regexp.MustCompile(`"sha256":"([0-9A-F:]{95})"`).FindStringSubmatch(logs.String())
	if fp == nil {
		t.Fatalf("no fingerprint in the log:\n%s", logs)
	}
	env := map[string]string{cliEnvAdminToken: admin, cliEnvServer: base}
	wrongFP := strings.Repeat("AB:", 31) + "AB"

	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantErr    string
		wantStderr string
	}{
		{name: "no trust", env: env, wantErr: "the server's certificate is not trusted: pass --cacert"},
		{name: "no trust names the URL, slash and all", env: env, wantErr: "GET " + base + "/v1/tokens: tls: "},
		{name: "cacert", env: env, args: []string{"--cacert", filepath.Join(dir, "tls-cert.pem")}},
		{name: "cacert from env", env: withEnv(env, cliEnvCACert, filepath.Join(dir, "tls-cert.pem"))},
		{name: "fingerprint", env: env, args: []string{"--fingerprint", fp[1]}},
		{name: "fingerprint lower case without colons", env: env, args: []string{"--fingerprint", strings.ToLower(strings.ReplaceAll(fp[1], ":", ""))}},
		{name: "wrong fingerprint", env: env, args: []string{"--fingerprint", wrongFP}, wantErr: "is not the pinned fingerprint"},
		{name: "wrong fingerprint with cacert", env: env, args: []string{"--cacert", filepath.Join(dir, "tls-cert.pem"), "--fingerprint", wrongFP}, wantErr: "is not the pinned fingerprint"},
		{name: "insecure warns", env: env, args: []string{"--insecure"}, wantStderr: "warning: --insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"token", "list", "--json"}, tt.args...)
			r := runCLI(t, tt.env, "", args...)
			if tt.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Fatalf("spotter %v = %v; want an error containing %q", args, r.err, tt.wantErr)
				}
				if strings.Contains(r.err.Error(), admin) {
					t.Errorf("the error holds the admin token")
				}
				return
			}
			if r.err != nil {
				t.Fatalf("spotter %v = %v", args, r.err)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr = %q; want %q", r.stderr, tt.wantStderr)
			}
			if strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("token list --json on an empty server = %q; want []", r.stdout)
			}
		})
	}
}
