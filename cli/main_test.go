package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/internal/e2e"
)

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer = e2e.Log

func envFunc(env map[string]string) func(string) string { return e2e.Env(env) }

// startServe runs `spotter serve args…` in-process and returns the base URL
// it logged, the log, and a stop function that waits for Run to return.
func startServe(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	return e2e.StartServe(t, Run, env, args...)
}

func getJSON(t *testing.T, c *http.Client, url string) (int, map[string]any) {
	t.Helper()
	code, v, _, _ := e2e.Call(t, c, "GET", url, "", "", nil)
	return code, v
}

func call(t *testing.T, c *http.Client, method, url, auth, ctype string, body []byte) (int, map[string]any, string) {
	t.Helper()
	code, v, raw, _ := e2e.Call(t, c, method, url, auth, ctype, body)
	return code, v, raw
}

func TestServeSandbox(t *testing.T) {
	base, logs, stop := startServe(t, nil, "--sandbox", "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("sandbox URL = %s; want plain HTTP on loopback", base)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := getJSON(t, http.DefaultClient, base+p); code != 200 {
			t.Errorf("GET %s = %d; want 200", p, code)
		}
	}
	const tok = "eyJhbGciOiJFZERTQSJ9.Y2FwYWJpbGl0eQ.TOKEN-IN-PATH"
	if code, body := getJSON(t, http.DefaultClient, base+"/hooks/"+tok); code != 405 || body["error"] != "method_not_allowed" {
		t.Errorf("GET /hooks/<token> = %d %v; want 405 method_not_allowed", code, body)
	}
	if err := stop(); err != nil {
		t.Errorf("serve returned %v on shutdown", err)
	}
	if strings.Contains(logs.String(), "TOKEN-IN-PATH") {
		t.Errorf("token in a path reached the log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "single node") {
		t.Errorf("embedded store did not say it is for a single node:\n%s", logs)
	}
}

func TestServeHTTPSSelfSigned(t *testing.T) {
	dir := dataDir(t)
	base, logs, stop := startServe(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dir, "--public-url", "https://spotter.test:8443")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("serve URL = %s; want https", base)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("certificate file holds no certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _ := getJSON(t, client, base+"/healthz"); code != 200 {
		t.Errorf("GET /healthz over TLS = %d; want 200", code)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("a client without the certificate was not refused")
	}
	fp := regexp.MustCompile(`"sha256":"([0-9A-F:]{95})"`).FindStringSubmatch(logs.String())
	if fp == nil || !strings.Contains(logs.String(), "certificate created") {
		t.Fatalf("no fingerprint logged for a created certificate:\n%s", logs)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A second start reuses the certificate: same fingerprint, "reused".
	_, logs2, stop2 := startServe(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dir, "--public-url", "https://spotter.test:8443")
	defer stop2()
	if !strings.Contains(logs2.String(), "certificate reused") || !strings.Contains(logs2.String(), fp[1]) {
		t.Errorf("second start did not reuse the certificate %s:\n%s", fp[1], logs2)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		wantOut string
	}{
		{name: "version", args: []string{"version"}, wantOut: "spotter dev"},
		{name: "help", args: []string{"--help"}},
		{name: "unknown command", args: []string{"launch-everything"}, wantErr: `unknown command "launch-everything"`},
		{name: "sandbox off loopback", args: []string{"serve", "--sandbox", "--addr", "0.0.0.0:8080"}, wantErr: "loopback only"},
		{name: "half a TLS pair", args: []string{"serve", "--tls-cert", "c.pem"}, wantErr: "go together"},
		{name: "bad log format", args: []string{"serve", "--log-format", "xml"}, wantErr: "want json or text"},
		{name: "vault without credentials", args: []string{"serve"}, env: map[string]string{"VAULT_ADDR": "http://127.0.0.1:1"}, wantErr: "VAULT_TOKEN"},
		{name: "bad public url", args: []string{"serve", "--public-url", "spotter.example.com"}, wantErr: "absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := Run(context.Background(), append([]string{"spotter"}, tt.args...), envFunc(tt.env), strings.NewReader(""), &out, &errb)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run(%v) = %v", tt.args, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run(%v) = %v; want error containing %q", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout = %q; want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// dataDir is a fresh data dir as serve wants it: the owner's alone
// (t.TempDir's own mode follows the umask, usually 0755).
func dataDir(t *testing.T) string {
	t.Helper()
	return e2e.DataDir(t)
}
