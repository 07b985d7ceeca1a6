package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// vaultNames are the per-test mount and key names, so tests can share one
// dev server without seeing each other's data.
type vaultNames struct {
	kv, transit, key, sign string
}

func uniqueNames() vaultNames {
	return vaultNames{
		kv:      vaulttest.Unique("spotter-test"),
		transit: "transit", // shared mount, unique keys: as in production
		key:     vaulttest.Unique("cred"),
		sign:    vaulttest.Unique("sign"),
	}
}

// names are n as deploy's policy renderer takes them.
func (n vaultNames) names() deploy.VaultNames {
	return deploy.VaultNames{KVMount: n.kv, TransitMount: n.transit, KeyName: n.key, SigningKeyName: n.sign}
}

// spotterConfig is config with the token spotter runs with in production:
// one holding deploy/vault/spotter.hcl's policy alone, after the mounts and
// keys are made with the root token.
func (n vaultNames) spotterConfig(srv vaulttest.Server, tb testing.TB) secrets.VaultConfig {
	cfg := n.config(srv, tb)
	cfg.Token = srv.SpotterToken(tb, n.names())
	return cfg
}

// config uses srv's root token: for tests of setup and of faults.
func (n vaultNames) config(srv vaulttest.Server, tb testing.TB) secrets.VaultConfig {
	return secrets.VaultConfig{
		Addr: srv.Addr, Token: srv.Token, CACert: srv.CACert,
		KVMount: n.kv, TransitMount: n.transit, KeyName: n.key, SigningKeyName: n.sign,
		Logger: testLogger(tb),
	}
}

// cleanupVault removes what a test created on the shared server.
func cleanupVault(tb testing.TB, root *api.Client, n vaultNames) {
	tb.Cleanup(func() {
		if err := root.Sys().Unmount(n.kv); err != nil {
			tb.Logf("cleanup: unmount %s: %v", n.kv, err)
		}
		for _, key := range []string{n.key, n.sign} {
			path := n.transit + "/keys/" + key
			if _, err := root.Logical().Write(path+"/config", map[string]any{"deletion_allowed": true}); err != nil {
				continue // never created
			}
			if _, err := root.Logical().Delete(path); err != nil {
				tb.Logf("cleanup: delete %s: %v", path, err)
			}
		}
	})
}

func openVault(tb testing.TB, cfg secrets.VaultConfig) *secrets.Vault {
	tb.Helper()
	v, err := secrets.NewVault(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("NewVault: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

func openVaultFixture(t testing.TB) fixture {
	t.Helper()
	return openVaultFixtureOn(t, vaulttest.Shared(t))
}

// openVaultFixtureOn opens a store on srv with names of its own and a
// least-privilege token.
func openVaultFixtureOn(t testing.TB, srv vaulttest.Server) fixture {
	t.Helper()
	n := uniqueNames()
	cleanupVault(t, srv.Client(t), n)
	v := openVault(t, n.spotterConfig(srv, t))
	return fixture{
		store: v,
		keys:  v,
		raw: func(t testing.TB, key string) []byte {
			// Read KV over plain HTTP, around the store, as an attacker with a
			// read-only KV token would.
			req, _ := http.NewRequest(http.MethodGet, srv.Addr+"/v1/"+n.kv+"/data/"+key, nil)
			req.Header.Set("X-Vault-Token", srv.Token)
			resp, err := srv.HTTPClient(t).Do(req)
			if err != nil {
				t.Fatalf("raw read: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("raw read: %s: %s", resp.Status, b)
			}
			return b
		},
	}
}

// assertUnavailable checks that op fails with ErrUnavailable within limit.
func assertUnavailable(t *testing.T, name string, limit time.Duration, op func(ctx context.Context) error) {
	t.Helper()
	start := time.Now()
	err := op(context.Background())
	took := time.Since(start)
	if !errors.Is(err, secrets.ErrUnavailable) {
		t.Errorf("%s = %v; want ErrUnavailable", name, err)
	}
	if took > limit {
		t.Errorf("%s took %v; want < %v", name, took, limit)
	}
	t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
}

// storeOps are the calls that must all fail fast when Vault is gone.
func storeOps(v *secrets.Vault, sealed []byte) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, err := v.Get(ctx, "tokens/a"); return err },
		"Put": func(ctx context.Context) error {
			_, err := v.Put(ctx, "tokens/a", secrets.Record{}, secrets.AnyVersion)
			return err
		},
		"List": func(ctx context.Context) error { _, err := v.List(ctx, "tokens/"); return err },
		"Seal": func(ctx context.Context) error { _, err := v.Seal(ctx, "tok", []byte("x")); return err },
		"Open": func(ctx context.Context) error { _, err := v.Open(ctx, "tok", sealed); return err },
		"Ping": func(ctx context.Context) error { return v.Ping(ctx) },
		"Sign": func(ctx context.Context) error { _, err := v.Sign(ctx, "v1", []byte("m")); return err },
	}
}

func TestVaultFaults(t *testing.T) {
	const timeout = 2 * time.Second
	limit := timeout + 1500*time.Millisecond
	tests := []struct {
		name  string
		fault func(t *testing.T, srv vaulttest.Server)
	}{
		{name: "sealed", fault: func(t *testing.T, srv vaulttest.Server) {
			if err := srv.Client(t).Sys().Seal(); err != nil {
				t.Fatalf("seal: %v", err)
			}
		}},
		{name: "stopped", fault: func(t *testing.T, srv vaulttest.Server) { srv.Stop() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := vaulttest.Start(t)
			cfg := uniqueNames().config(srv, t)
			cfg.Timeout = timeout
			v := openVault(t, cfg)
			sealed, err := v.Seal(context.Background(), "tok", []byte("secret"))
			if err != nil {
				t.Fatalf("Seal before the fault: %v", err)
			}
			tt.fault(t, srv)
			for name, op := range storeOps(v, sealed) {
				assertUnavailable(t, name, limit, op)
			}
		})
	}
}

// blackhole accepts connections and never answers: the worst case for a
// client without deadlines.
func blackhole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return "http://" + l.Addr().String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestVaultUnreachable(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{name: "closed port", addr: closedPort},
		{name: "never answers", addr: blackhole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			assertUnavailable(t, "NewVault", timeout+1500*time.Millisecond, func(ctx context.Context) error {
				v, err := secrets.NewVault(ctx, secrets.VaultConfig{Addr: addr, Token: "t", Timeout: timeout, Logger: testLogger(t)})
				if err == nil {
					v.Close()
				}
				return err
			})
		})
	}
}

// TestVaultCallerDeadline: a caller's earlier deadline wins over Timeout.
func TestVaultCallerDeadline(t *testing.T) {
	srv := vaulttest.Start(t)
	v := openVault(t, uniqueNames().config(srv, t)) // Timeout: DefaultTimeout
	if err := srv.Client(t).Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := v.Get(ctx, "tokens/a")
	if !errors.Is(err, secrets.ErrUnavailable) || time.Since(start) > time.Second {
		t.Fatalf("Get with a 300ms deadline on a sealed Vault = %v after %v; want ErrUnavailable within 1s", err, time.Since(start))
	}
}

// TestVaultNeverLogsToken: the root token appears in no log line, while the
// accessor does.
func TestVaultNeverLogsToken(t *testing.T) {
	srv := vaulttest.Shared(t)
	n := uniqueNames()
	cleanupVault(t, srv.Client(t), n)
	var logs logBuffer
	cfg := n.config(srv, t)
	cfg.Logger = slogTo(&logs)
	v := openVault(t, cfg)
	if _, err := v.Put(context.Background(), "tokens/x", secrets.Record{Public: []byte("p")}, secrets.CreateOnly); err != nil {
		t.Fatal(err)
	}
	v.Close()
	out := logs.String()
	if strings.Contains(out, srv.Token) {
		t.Fatalf("the vault token is in the log:\n%s", out)
	}
	for _, want := range []string{"accessor=", "created vault mount", "created vault transit key"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if s := fmt.Sprint(v); strings.Contains(s, srv.Token) {
		t.Fatalf("fmt.Sprint(store) shows the token: %s", s)
	}
}
