package vaulttest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/deploy"
)

// EnvRootToken names the root token of the shared dev server:
// `scripts/vault-dev.sh start` exports it beside VAULT_TOKEN, which is a
// token holding only deploy/vault/spotter.hcl's policy.
const EnvRootToken = "SPOTTER_VAULT_ROOT_TOKEN"

// SpotterToken provisions what an operator sets up once for names — the KV
// v2 mount, the transit mount and both keys — with s's root token, then
// returns a token that has only deploy/vault/spotter.hcl's policy, rendered
// for names. This is the token spotter runs with in the tests; the root
// token is for setup and clean-up only.
func (s Server) SpotterToken(tb testing.TB, n deploy.VaultNames) string {
	tb.Helper()
	Provision(tb, s.Client(tb), n)
	rules, err := deploy.VaultPolicy(n)
	if err != nil {
		tb.Fatalf("deploy/vault/spotter.hcl: %v", err)
	}
	return s.TokenWithPolicy(tb, deploy.FormatPolicy(rules))
}

// TokenWithPolicy stores policy under a name of its own and returns a token
// with that policy alone (not even Vault's default policy), renewable, for
// an hour. Both are removed at cleanup.
func (s Server) TokenWithPolicy(tb testing.TB, policy string) string {
	tb.Helper()
	root := s.Client(tb)
	name := Unique("spotter-policy")
	if err := root.Sys().PutPolicy(name, policy); err != nil {
		tb.Fatalf("put policy: %v", err)
	}
	tok, err := root.Auth().Token().Create(&api.TokenCreateRequest{
		Policies: []string{name}, NoDefaultPolicy: true, TTL: "1h", Renewable: new(true),
	})
	if err != nil {
		tb.Fatalf("create a token with policy %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// Revoke first: a token outliving its policy would keep nothing, but
		// a stray token is still clutter on a shared server.
		_ = root.Auth().Token().RevokeTree(tok.Auth.ClientToken)
		_ = root.Sys().DeletePolicy(name)
	})
	return tok.Auth.ClientToken
}

// Provision makes, with a privileged client, what spotter's least-privilege
// token may not: the KV v2 mount, the transit mount and the two transit keys
// (as secrets.NewVault would create them), leaving what exists. The KV
// mount is removed at cleanup; the transit mount is shared.
func Provision(tb testing.TB, root *api.Client, n deploy.VaultNames) {
	tb.Helper()
	mount := func(path, typ string, opts map[string]string) {
		err := root.Sys().Mount(path, &api.MountInput{Type: typ, Options: opts})
		var re *api.ResponseError
		if err != nil && !(errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), "already in use")) {
			tb.Fatalf("mount %s at %s: %v", typ, path, err)
		}
	}
	mount(n.KVMount, "kv", map[string]string{"version": "2"})
	tb.Cleanup(func() { _ = root.Sys().Unmount(n.KVMount) })
	mount(n.TransitMount, "transit", nil)
	for name, params := range map[string]map[string]any{
		n.KeyName:        {"type": "aes256-gcm96", "derived": true},
		n.SigningKeyName: {"type": "ed25519"},
	} {
		path := n.TransitMount + "/keys/" + name
		if s, err := root.Logical().Read(path); err == nil && s != nil {
			continue
		}
		if _, err := root.Logical().Write(path, params); err != nil {
			tb.Fatalf("create %s: %v", path, err)
		}
	}
}

// rootToken is the shared server's root token: EnvRootToken when set (a
// server from `scripts/vault-dev.sh start`), else VAULT_TOKEN (a server
// started some other way, whose token is what the developer gave).
func rootToken() string {
	if t := os.Getenv(EnvRootToken); t != "" {
		return t
	}
	return os.Getenv("VAULT_TOKEN")
}

// AppRole makes, on s, what a production replica logs in with: the mounts
// and keys for n (Provision), deploy/vault/spotter.hcl rendered for n as a
// policy, and a role at auth/approle (enabled if missing) whose tokens hold
// that policy. It returns the role id and a secret id; the role and policy
// are removed at cleanup.
func (s Server) AppRole(tb testing.TB, n deploy.VaultNames) (roleID, secretID string) {
	tb.Helper()
	root := s.Client(tb)
	Provision(tb, root, n)
	rules, err := deploy.VaultPolicy(n)
	if err != nil {
		tb.Fatalf("deploy/vault/spotter.hcl: %v", err)
	}
	policy := Unique("spotter-approle")
	if err := root.Sys().PutPolicy(policy, deploy.FormatPolicy(rules)); err != nil {
		tb.Fatalf("put policy: %v", err)
	}
	err = root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"})
	var re *api.ResponseError
	if err != nil && !(errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), "already in use")) {
		tb.Fatalf("enable approle: %v", err)
	}
	role := "auth/approle/role/" + Unique("spotter")
	if _, err := root.Logical().Write(role, map[string]any{"token_policies": []string{policy}, "token_ttl": "1h"}); err != nil {
		tb.Fatalf("create role: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = root.Logical().Delete(role)
		_ = root.Sys().DeletePolicy(policy)
	})
	rid, err := root.Logical().Read(role + "/role-id")
	if err != nil || rid == nil {
		tb.Fatalf("read role id: %v", err)
	}
	sid, err := root.Logical().Write(role+"/secret-id", nil)
	if err != nil || sid == nil {
		tb.Fatalf("make secret id: %v", err)
	}
	return rid.Data["role_id"].(string), sid.Data["secret_id"].(string)
}
