package capability_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// openScaleVault opens a Vault store on its own KV mount and keys, with the
// least-privilege token spotter runs with.
func openScaleVault(tb testing.TB, srv vaulttest.Server) (*secrets.Vault, deploy.VaultNames) {
	tb.Helper()
	n := deploy.VaultNames{KVMount: vaulttest.Unique("scale-kv"), TransitMount: "transit",
		KeyName: vaulttest.Unique("scale-cred"), SigningKeyName: vaulttest.Unique("scale-sign")}
	tok := srv.SpotterToken(tb, n)
	st, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: srv.Addr, Token: tok,
		KVMount: n.KVMount, TransitMount: n.TransitMount, KeyName: n.KeyName, SigningKeyName: n.SigningKeyName,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		st.Close()
		root := srv.Client(tb)
		for _, k := range []string{n.KeyName, n.SigningKeyName} {
			_, _ = root.Logical().Write("transit/keys/"+k+"/config", map[string]any{"deletion_allowed": true})
			_, _ = root.Logical().Delete("transit/keys/" + k)
		}
	})
	return st, n
}

// TestVaultTokenScale is the small version of BenchmarkVaultTokens, run in
// CI: with 251 tokens in Vault, paging by 100 visits each once, in id
// order, in three pages (100, 100, 51), a limit of the count and one under it
// page right, and the real token among the copies still verifies.
func TestVaultTokenScale(t *testing.T) {
	st, _ := openScaleVault(t, vaulttest.Shared(t))
	clk := testclock.New(time.Now().UTC())
	reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	real, err := reg.Create(ctx, api.CreateTokenRequest{Name: "real",
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	const n = 251
	fillTokens(t, st, real.ID, n, 8)

	ids, pages := walkPages(t, reg, 100)
	if pages != 3 || len(ids) != n {
		t.Fatalf("paging by 100 gave %d tokens in %d pages; want %d in 3", len(ids), pages, n)
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != n || !slices.Contains(ids, real.ID) {
		t.Fatalf("pages are not every token once, in id order (real %s among them)", real.ID)
	}
	for _, tt := range []struct {
		name     string
		limit    int
		wantLen  int
		wantNext bool
	}{
		{name: "limit one under the count", limit: n - 1, wantLen: n - 1, wantNext: true},
		{name: "limit exactly the count", limit: n, wantLen: n, wantNext: false},
		{name: "limit the maximum", limit: capability.MaxPageSize, wantLen: n, wantNext: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := reg.ListPage(ctx, "", tt.limit)
			if err != nil || len(p.Tokens) != tt.wantLen || (p.Next != "") != tt.wantNext {
				t.Fatalf("ListPage(%d) = %d tokens, next %q, %v; want %d, next %t", tt.limit, len(p.Tokens), p.Next, err, tt.wantLen, tt.wantNext)
			}
		})
	}
	if _, err := reg.ListPage(ctx, "", capability.MaxPageSize+1); err == nil {
		t.Error("a page past MaxPageSize was served")
	}
	tok, err := reg.Authenticate(ctx, real.Token)
	if err != nil || tok.ID != real.ID {
		t.Fatalf("Authenticate among %d tokens = %v, %v", n, tok.ID, err)
	}
	if _, err := reg.Credentials(ctx, tok); err != nil {
		t.Fatalf("Credentials among %d tokens: %v", n, err)
	}
}
