// Package storetest opens spotter's two stores for tests that must hold on
// both: the embedded file and a real Vault with mounts of its own. Each
// package that keeps records in the store (capability, pools, bootstrap)
// runs its table over both; this is the one place that knows how.
package storetest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// Embedded opens an embedded store in a fresh directory, returned so a
// test can read the raw file, and closes it at cleanup.
func Embedded(tb testing.TB, log *slog.Logger) (*secrets.Embedded, string) {
	tb.Helper()
	dir := tb.TempDir()
	s, err := secrets.OpenEmbedded(dir, nil, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, dir
}

// Vault opens a store on the shared Vault dev server with KV and Transit
// mounts named after prefix, unmounted at cleanup. Without VAULT_ADDR it
// skips (or fails under SPOTTER_REQUIRE_VAULT=1), as vaulttest.Shared does.
func Vault(tb testing.TB, prefix string, log *slog.Logger) *secrets.Vault {
	tb.Helper()
	srv := vaulttest.Shared(tb)
	kv, transit := vaulttest.Unique(prefix+"-kv"), vaulttest.Unique(prefix+"-transit")
	s, err := secrets.NewVault(context.Background(), secrets.VaultConfig{
		Addr: srv.Addr, Token: srv.Token, KVMount: kv, TransitMount: transit, Logger: log,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		c := srv.Client(tb)
		_ = c.Sys().Unmount(kv)
		_ = c.Sys().Unmount(transit)
	})
	return s
}
