// Package vaulttest gives tests a real Vault: the shared dev server that
// scripts/test.sh starts (VAULT_ADDR, VAULT_TOKEN), or a private one started
// from the binary scripts/vault-dev.sh builds, for tests that seal or stop it.
//
// When no Vault is available a test is skipped, unless SPOTTER_REQUIRE_VAULT=1
// (scripts/test.sh sets it): then it fails, so CI can never pass with the
// Vault tests silently skipped.
package vaulttest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Server is a Vault the test may use.
type Server struct {
	Addr string
	// Token is a root token: for setting up and cleaning up, never for
	// spotter itself (use SpotterToken).
	Token string
	// CACert is the PEM file of the CA behind Addr's certificate, for an
	// https Addr (a cluster node); empty for the plain-HTTP dev server.
	CACert string
	// stop kills a server from Start; nil for the shared one.
	stop func()
}

// Stop kills a private server from Start at once, as a crash would, so a
// test can see what clients do when Vault goes away. It is a no-op on the
// shared server, which other tests are using.
func (s Server) Stop() {
	if s.stop != nil {
		s.stop()
	}
}

// Client returns a client for s with no retries and a short timeout, so a
// fault shows up as an error, not a hang.
func (s Server) Client(tb testing.TB) *api.Client {
	tb.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	if s.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: s.CACert}); err != nil {
			tb.Fatalf("vault client TLS: %v", err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatalf("vault client: %v", err)
	}
	c.SetToken(s.Token)
	return c
}

// HTTPClient returns a plain HTTP client that trusts s's CA, for reading
// Vault around the api module.
func (s Server) HTTPClient(tb testing.TB) *http.Client {
	tb.Helper()
	if s.CACert == "" {
		return http.DefaultClient
	}
	pem, err := os.ReadFile(s.CACert)
	if err != nil {
		tb.Fatalf("vault CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		tb.Fatalf("vault CA %s holds no certificate", s.CACert)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("SPOTTER_REQUIRE_VAULT") == "1" {
		tb.Fatalf("Vault required (SPOTTER_REQUIRE_VAULT=1) but %s", why)
	}
	tb.Skipf("no Vault: %s; run scripts/test.sh, or eval \"$(scripts/vault-dev.sh start)\"", why)
}

// Shared returns the Vault named by VAULT_ADDR, with its root token
// (SPOTTER_VAULT_ROOT_TOKEN, else VAULT_TOKEN) for setting up. Tests sharing
// it must use names from Unique so they do not collide, and should run
// spotter with a token from SpotterToken.
func Shared(tb testing.TB) Server {
	tb.Helper()
	addr, token := os.Getenv("VAULT_ADDR"), rootToken()
	if addr == "" || token == "" {
		missing(tb, "VAULT_ADDR or VAULT_TOKEN is not set")
	}
	return Server{Addr: addr, Token: token}
}

// Unique returns prefix plus a random suffix, for mounts and key names.
func Unique(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// Binary returns the Vault binary scripts/vault-dev.sh built: $SPOTTER_VAULT_BIN,
// or the newest vault-* in the cache directory.
func Binary() (string, error) {
	if b := os.Getenv("SPOTTER_VAULT_BIN"); b != "" {
		return b, nil
	}
	cache := os.Getenv("SPOTTER_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(dir, "spotter")
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "vault-v*"))
	for i := len(matches) - 1; i >= 0; i-- {
		if !strings.HasSuffix(matches[i], ".tmp") {
			return matches[i], nil
		}
	}
	return "", fmt.Errorf("no vault binary in %s (run scripts/vault-dev.sh build)", cache)
}

// Start runs a private dev server for this test and stops it at cleanup. Use it
// for tests that seal, stop or otherwise break Vault.
func Start(tb testing.TB) Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		missing(tb, err.Error())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	token := Unique("root")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "server", "-dev", "-dev-no-store-token",
		"-dev-root-token-id="+token, "-dev-listen-address="+addr)
	logf, err := os.Create(filepath.Join(tb.TempDir(), "vault.log"))
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start vault: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel() // CommandContext kills the process
			_ = cmd.Wait()
		})
	}
	tb.Cleanup(func() {
		stop()
		logf.Close()
	})
	s := Server{Addr: "http://" + addr, Token: token, stop: stop}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logf.Name())
	tb.Fatalf("vault at %s not healthy after 20 s:\n%s", addr, log)
	return Server{}
}
