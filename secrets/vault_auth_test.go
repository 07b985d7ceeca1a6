package secrets_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// leastPolicy is deploy/vault/spotter.hcl for n, less the rules whose path
// contains omit (when not empty): what a production spotter token holds
// once the mounts and keys exist.
func leastPolicy(tb testing.TB, n vaultNames, omit string) string {
	tb.Helper()
	rules, err := deploy.VaultPolicy(n.names())
	if err != nil {
		tb.Fatal(err)
	}
	var keep []deploy.Rule
	for _, r := range rules {
		if omit == "" || !strings.Contains(r.Path, omit) {
			keep = append(keep, r)
		}
	}
	return deploy.FormatPolicy(keep)
}

// TestVaultAppRole logs in with a role whose tokens live 5 s at most and
// keeps using the store for longer, so renewal and re-login must work. The
// role's policy has no sys/* access: the mounts were made beforehand.
func TestVaultAppRole(t *testing.T) {
	srv := vaulttest.Shared(t)
	root := srv.Client(t)
	n := uniqueNames()
	cleanupVault(t, root, n)
	openVault(t, n.config(srv, t)).Close() // create mounts and keys with the root token

	mount := vaulttest.Unique("approle")
	if err := root.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatalf("enable approle: %v", err)
	}
	t.Cleanup(func() { root.Sys().DisableAuth(mount) })
	policy := vaulttest.Unique("spotter-approle")
	if err := root.Sys().PutPolicy(policy, leastPolicy(t, n, "")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Sys().DeletePolicy(policy) })
	role := "auth/" + mount + "/role/spotter"
	if _, err := root.Logical().Write(role, map[string]any{
		"token_policies": []string{policy}, "token_ttl": "3s", "token_max_ttl": "5s",
	}); err != nil {
		t.Fatalf("create role: %v", err)
	}
	rid, err := root.Logical().Read(role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write(role+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleID, secretID := rid.Data["role_id"].(string), sid.Data["secret_id"].(string)

	var logs logBuffer
	cfg := n.config(srv, t)
	cfg.Token = "" // AppRole only
	cfg.RoleID, cfg.SecretID, cfg.AppRoleMount = roleID, secretID, mount
	cfg.Logger = slogTo(&logs)
	v := openVault(t, cfg)

	ctx := context.Background()
	sealed, err := v.Seal(ctx, "tok", []byte("secret"))
	if err != nil {
		t.Fatalf("Seal via AppRole: %v", err)
	}
	kid, err := v.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate via AppRole: %v", err)
	}
	// Outlive token_max_ttl twice over; every call must keep working.
	deadline := time.Now().Add(11 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("tokens/t%d", i)
		if _, err := v.Put(ctx, key, secrets.Record{Public: []byte("p"), Sealed: sealed}, secrets.CreateOnly); err != nil {
			t.Fatalf("Put at %d: %v", i, err)
		}
		if got, err := v.Open(ctx, "tok", sealed); err != nil || string(got) != "secret" {
			t.Fatalf("Open at %d: %q, %v", i, got, err)
		}
		sig, err := v.Sign(ctx, kid, []byte("m"))
		if err != nil {
			t.Fatalf("Sign at %d: %v", i, err)
		}
		pubs, err := v.PublicKeys(ctx)
		if err != nil || !ed25519.Verify(pubs[kid], []byte("m"), sig) {
			t.Fatalf("verify at %d: %v", i, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	v.Close()
	out := logs.String()
	if c := strings.Count(out, "logged in to vault with AppRole"); c < 2 {
		t.Errorf("%d AppRole logins in 11 s with a 5 s max TTL; want a re-login:\n%s", c, out)
	}
	for _, secret := range []string{secretID, srv.Token} {
		if strings.Contains(out, secret) {
			t.Fatalf("a secret is in the log:\n%s", out)
		}
	}
}

// TestVaultPermissions: a token lacking a permission spotter needs gets an
// error naming it, at start or on the call, never a hang.
func TestVaultPermissions(t *testing.T) {
	srv := vaulttest.Shared(t)
	root := srv.Client(t)
	tests := []struct {
		name      string
		premount  bool   // create mounts and keys with the root token first
		omit      string // policy line to leave out
		op        func(v *secrets.Vault) error
		wantStart string // substring of NewVault's error; "" if it must succeed
		wantOp    string // substring of op's error
	}{
		{name: "mount missing and no sys/mounts", wantStart: "sys/mounts/"},
		{name: "least privilege on existing mounts works", premount: true,
			op: func(v *secrets.Vault) error {
				_, err := v.Put(context.Background(), "tokens/a", secrets.Record{}, secrets.CreateOnly)
				return err
			}},
		{name: "no read on the transit key", premount: true, omit: "keys/cred", wantStart: "/keys/cred-"},
		{name: "no decrypt", premount: true, omit: "/decrypt/",
			op: func(v *secrets.Vault) error {
				sealed, err := v.Seal(context.Background(), "tok", []byte("x"))
				if err != nil {
					return err
				}
				_, err = v.Open(context.Background(), "tok", sealed)
				return err
			},
			wantOp: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := uniqueNames()
			cleanupVault(t, root, n)
			if tt.premount {
				openVault(t, n.config(srv, t)).Close()
			}
			cfg := n.config(srv, t)
			cfg.Token = srv.TokenWithPolicy(t, leastPolicy(t, n, tt.omit))
			cfg.Timeout = 3 * time.Second
			start := time.Now()
			v, err := secrets.NewVault(context.Background(), cfg)
			if time.Since(start) > cfg.Timeout*4 {
				t.Errorf("NewVault took %v", time.Since(start))
			}
			if tt.wantStart != "" {
				if err == nil {
					v.Close()
					t.Fatalf("NewVault succeeded; want an error naming %q", tt.wantStart)
				}
				if !strings.Contains(err.Error(), tt.wantStart) || !errors.Is(err, secrets.ErrUnavailable) {
					t.Fatalf("NewVault = %v; want ErrUnavailable naming %q", err, tt.wantStart)
				}
				t.Logf("NewVault: %v", apperrDetails(err))
				return
			}
			if err != nil {
				t.Fatalf("NewVault: %v", err)
			}
			defer v.Close()
			err = tt.op(v)
			if tt.wantOp == "" {
				if err != nil {
					t.Fatalf("op: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantOp) || !errors.Is(err, secrets.ErrUnavailable) {
				t.Fatalf("op = %v; want ErrUnavailable with %q", err, tt.wantOp)
			}
		})
	}
}

// apperrDetails keeps log output to the client-facing part.
func apperrDetails(err error) string {
	s, _, _ := strings.Cut(err.Error(), ": Error making API request")
	return s
}
