package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// policyProbe is one thing spotter does with Vault. prep runs with the root
// token first, so each probe stands alone: one denied call cannot make a
// later probe fail for want of its record.
type policyProbe struct {
	name string
	prep func(t *testing.T, admin *secrets.Vault) any
	run  func(ctx context.Context, v *secrets.Vault, c *api.Client, state any) error
}

// policyProbes are every store call a replica makes, plus the two token
// calls its login and renewal make. keyPrefix keeps runs apart.
func policyProbes(keyPrefix string) []policyProbe {
	key := func(s string) string { return keyPrefix + "/" + s }
	put := func(t *testing.T, admin *secrets.Vault, k string) int {
		t.Helper()
		ver, err := admin.Put(context.Background(), k, secrets.Record{Public: []byte("p")}, secrets.CreateOnly)
		if err != nil {
			t.Fatalf("prep put %s: %v", k, err)
		}
		return ver
	}
	return []policyProbe{
		{name: "put-create", run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
			_, err := v.Put(ctx, key("new"), secrets.Record{Public: []byte("p")}, secrets.CreateOnly)
			return err
		}},
		{name: "put-update",
			prep: func(t *testing.T, admin *secrets.Vault) any { return put(t, admin, key("upd")) },
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, ver any) error {
				_, err := v.Put(ctx, key("upd"), secrets.Record{Public: []byte("q")}, ver.(int))
				return err
			}},
		{name: "get",
			prep: func(t *testing.T, admin *secrets.Vault) any { return put(t, admin, key("get")) },
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
				_, err := v.Get(ctx, key("get"))
				return err
			}},
		{name: "list",
			prep: func(t *testing.T, admin *secrets.Vault) any { return put(t, admin, key("dir/x")) },
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
				keys, err := v.List(ctx, key("dir/"))
				if err == nil && len(keys) != 1 {
					return fmt.Errorf("listed %v; want one key", keys)
				}
				return err
			}},
		{name: "folders",
			prep: func(t *testing.T, admin *secrets.Vault) any { return put(t, admin, key("shards/ab/x")) },
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
				dirs, err := v.Folders(ctx, key("shards/"))
				if err == nil && len(dirs) != 1 {
					return fmt.Errorf("listed folders %v; want one", dirs)
				}
				return err
			}},
		{name: "delete",
			prep: func(t *testing.T, admin *secrets.Vault) any { return put(t, admin, key("del")) },
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
				return v.Delete(ctx, key("del"))
			}},
		{name: "seal", run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
			_, err := v.Seal(ctx, "tok", []byte("secret"))
			return err
		}},
		{name: "open",
			prep: func(t *testing.T, admin *secrets.Vault) any {
				sealed, err := admin.Seal(context.Background(), "tok", []byte("secret"))
				if err != nil {
					t.Fatal(err)
				}
				return sealed
			},
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, sealed any) error {
				got, err := v.Open(ctx, "tok", sealed.([]byte))
				if err == nil && string(got) != "secret" {
					return fmt.Errorf("opened %q", got)
				}
				return err
			}},
		{name: "open-batch",
			prep: func(t *testing.T, admin *secrets.Vault) any {
				sealed, err := admin.Seal(context.Background(), "tok", []byte("secret"))
				if err != nil {
					t.Fatal(err)
				}
				return sealed
			},
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, sealed any) error {
				got, errs := v.OpenBatch(ctx, []string{"tok", "tok"}, [][]byte{sealed.([]byte), sealed.([]byte)})
				for i, err := range errs {
					if err != nil {
						return err
					}
					if string(got[i]) != "secret" {
						return fmt.Errorf("opened %q", got[i])
					}
				}
				return nil
			}},
		{name: "sign",
			prep: func(t *testing.T, admin *secrets.Vault) any {
				kid, err := admin.SigningKeyID(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return kid
			},
			run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, kid any) error {
				_, err := v.Sign(ctx, kid.(string), []byte("m"))
				return err
			}},
		{name: "public-keys", run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
			_, err := v.PublicKeys(ctx)
			return err
		}},
		{name: "rotate", run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
			_, err := v.Rotate(ctx)
			return err
		}},
		{name: "ping", run: func(ctx context.Context, v *secrets.Vault, _ *api.Client, _ any) error {
			return v.Ping(ctx)
		}},
		// NewVault looks the token up and its lifetime watcher renews it
		// with these two calls (secrets/vault_auth.go).
		{name: "lookup-self", run: func(ctx context.Context, _ *secrets.Vault, c *api.Client, _ any) error {
			_, err := c.Auth().Token().LookupSelfWithContext(ctx)
			return err
		}},
		{name: "renew-self", run: func(ctx context.Context, _ *secrets.Vault, c *api.Client, _ any) error {
			_, err := c.Auth().Token().RenewSelfWithContext(ctx, 0)
			return err
		}},
	}
}

// denied reports whether err is Vault refusing the token's policy.
func denied(err error) bool {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode == 403
	}
	return errors.Is(err, secrets.ErrUnavailable) && strings.Contains(err.Error(), "permission denied")
}

// TestVaultPolicy proves deploy/vault/spotter.hcl is what spotter needs:
// sufficient (every call works with a token holding it alone), needed (each
// capability it grants, taken away, denies exactly the calls that use it),
// and no wider (paths around it are denied).
func TestVaultPolicy(t *testing.T) {
	srv := vaulttest.Shared(t)
	root := srv.Client(t)
	n := uniqueNames()
	cleanupVault(t, root, n)
	vaulttest.Provision(t, root, n.names())
	admin := openVault(t, n.config(srv, t))
	rules, err := deploy.VaultPolicy(n.names())
	if err != nil {
		t.Fatal(err)
	}

	// run opens a store with a token holding policy and runs every probe:
	// it returns each probe's error and the store's log, or NewVault's error.
	run := func(t *testing.T, policy, prefix string) (errs map[string]error, logs string, startErr error) {
		t.Helper()
		probes := policyProbes(prefix)
		state := map[string]any{}
		for _, p := range probes {
			if p.prep != nil {
				state[p.name] = p.prep(t, admin)
			}
		}
		var buf logBuffer
		cfg := n.config(srv, t)
		cfg.Token = srv.TokenWithPolicy(t, policy)
		cfg.Timeout = 5 * time.Second
		cfg.Logger = slogTo(&buf)
		v, err := secrets.NewVault(context.Background(), cfg)
		if err != nil {
			return nil, buf.String(), err
		}
		defer v.Close()
		c := srv.Client(t)
		c.SetToken(cfg.Token)
		errs = map[string]error{}
		for _, p := range probes {
			errs[p.name] = p.run(context.Background(), v, c, state[p.name])
		}
		return errs, buf.String(), nil
	}

	t.Run("sufficient", func(t *testing.T) {
		errs, logs, startErr := run(t, deploy.FormatPolicy(rules), "all")
		if startErr != nil {
			t.Fatalf("NewVault with the policy: %v", startErr)
		}
		for name, err := range errs {
			if err != nil {
				t.Errorf("%s with the policy: %v", name, err)
			}
		}
		if strings.Contains(logs, "renewal is off") {
			t.Errorf("the store cannot renew its token with the policy:\n%s", logs)
		}
	})

	// Each capability the file grants, and what taking it away breaks (the
	// probes, comma-separated):
	// "start" is NewVault itself (it reads both keys, and lists the KV
	// mount to find it when sys/mounts is closed to it).
	d := deploy.DefaultVaultNames()
	needs := map[string]string{
		d.KVMount + "/data/* create":                          "put-create",
		d.KVMount + "/data/* read":                            "get",
		d.KVMount + "/data/* update":                          "put-update",
		d.KVMount + "/metadata/* list":                        "start",
		d.KVMount + "/metadata/* delete":                      "delete",
		"transit/keys/" + d.KeyName + " read":                 "start",
		"transit/encrypt/" + d.KeyName + " update":            "seal",
		"transit/decrypt/" + d.KeyName + " update":            "open,open-batch",
		"transit/keys/" + d.SigningKeyName + " read":          "start",
		"transit/sign/" + d.SigningKeyName + " update":        "sign",
		"transit/keys/" + d.SigningKeyName + "/rotate update": "rotate",
		"auth/token/lookup-self read":                         "lookup-self",
		"auth/token/renew-self update":                        "renew-self",
	}
	shipped, err := deploy.ParsePolicy(deploy.VaultPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	granted := 0
	for i, r := range shipped {
		for _, capability := range r.Capabilities {
			granted++
			grant := r.Path + " " + capability
			want, ok := needs[grant]
			if !ok {
				t.Errorf("the policy grants %s, which no probe here accounts for: test it or take it out", grant)
				continue
			}
			t.Run(grant, func(t *testing.T) {
				less := slices.Clone(rules)
				less[i].Capabilities = slices.DeleteFunc(slices.Clone(rules[i].Capabilities), func(c string) bool { return c == capability })
				if len(less[i].Capabilities) == 0 {
					less = slices.Delete(less, i, i+1)
				}
				errs, _, startErr := run(t, deploy.FormatPolicy(less), fmt.Sprintf("less%d", granted))
				if want == "start" {
					if startErr == nil || !errors.Is(startErr, secrets.ErrUnavailable) || !strings.Contains(startErr.Error(), "permission denied") {
						t.Fatalf("NewVault without %s = %v; want it refused for permission", grant, startErr)
					}
					return
				}
				if startErr != nil {
					t.Fatalf("NewVault without %s: %v; only %s should fail", grant, startErr, want)
				}
				wanted := strings.Split(want, ",")
				for name, err := range errs {
					switch {
					case slices.Contains(wanted, name) && !denied(err):
						t.Errorf("%s without %s = %v; want permission denied", name, grant, err)
					case !slices.Contains(wanted, name) && err != nil:
						t.Errorf("%s without %s: %v; only %s should need it", name, grant, err, want)
					}
				}
			})
		}
	}
	if granted != len(needs) {
		t.Errorf("the policy grants %d capabilities; the test expects %d", granted, len(needs))
	}

	t.Run("nothing around it", func(t *testing.T) {
		c := srv.Client(t)
		c.SetToken(srv.SpotterToken(t, n.names()))
		other := vaulttest.Unique("other-kv")
		if err := root.Sys().Mount(other, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Sys().Unmount(other) })
		if _, err := root.Logical().Write(other+"/data/x", map[string]any{"data": map[string]any{"v": "1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.Logical().Write(n.kv+"/data/around", map[string]any{"data": map[string]any{"v": "1"}}); err != nil {
			t.Fatal(err)
		}
		otherKey := vaulttest.Unique("other-key")
		if _, err := root.Logical().Write(n.transit+"/keys/"+otherKey, map[string]any{"type": "aes256-gcm96"}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			root.Logical().Write(n.transit+"/keys/"+otherKey+"/config", map[string]any{"deletion_allowed": true})
			root.Logical().Delete(n.transit + "/keys/" + otherKey)
		})
		read := func(path string) func() error {
			return func() error { _, err := c.Logical().Read(path); return err }
		}
		write := func(path string, data map[string]any) func() error {
			return func() error { _, err := c.Logical().Write(path, data); return err }
		}
		tests := []struct {
			name string
			call func() error
		}{
			{"read another KV mount", read(other + "/data/x")},
			{"write another KV mount", write(other+"/data/y", map[string]any{"data": map[string]any{"v": "1"}})},
			{"list another KV mount", func() error { _, err := c.Logical().List(other + "/metadata/"); return err }},
			{"read a record's metadata", read(n.kv + "/metadata/around")},
			{"destroy a record's versions", write(n.kv+"/destroy/around", map[string]any{"versions": []int{1}})},
			{"change the KV mount's config", write(n.kv+"/config", map[string]any{"cas_required": false})},
			{"decrypt with another transit key", write(n.transit+"/decrypt/"+otherKey, map[string]any{"ciphertext": "vault:v1:AAAA"})},
			{"create a transit key", write(n.transit+"/keys/"+vaulttest.Unique("mine"), map[string]any{"type": "aes256-gcm96"})},
			{"make the sealing key deletable", write(n.transit+"/keys/"+n.key+"/config", map[string]any{"deletion_allowed": true})},
			{"export the sealing key", read(n.transit + "/export/encryption-key/" + n.key)},
			{"back up the sealing key", read(n.transit + "/backup/" + n.key)},
			{"rotate the sealing key", write(n.transit+"/keys/"+n.key+"/rotate", nil)},
			{"read the mount table", read("sys/mounts")},
			{"mount an engine", write("sys/mounts/"+vaulttest.Unique("evil"), map[string]any{"type": "kv"})},
			{"read a policy", read("sys/policy/default")},
			{"create a token", write("auth/token/create", map[string]any{"policies": []string{"default"}})},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !denied(err) {
					t.Errorf("= %v; want 403 permission denied", err)
				}
			})
		}
	})
}

// TestVaultDevToken: the VAULT_TOKEN `scripts/vault-dev.sh start` exports
// holds the shipped policy alone, installed verbatim, and spotter runs with
// it on the default names — what a developer's `spotter serve` uses.
func TestVaultDevToken(t *testing.T) {
	srv := vaulttest.Shared(t)
	tok := os.Getenv("VAULT_TOKEN")
	if os.Getenv(vaulttest.EnvRootToken) == "" || tok == srv.Token {
		if os.Getenv("SPOTTER_REQUIRE_VAULT") == "1" {
			t.Fatalf("%s is not set: the Vault was not started by scripts/vault-dev.sh start", vaulttest.EnvRootToken)
		}
		t.Skipf("VAULT_TOKEN is the root token (%s unset): not a server from scripts/vault-dev.sh start", vaulttest.EnvRootToken)
	}
	c := srv.Client(t)
	c.SetToken(tok)
	self, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	pols, _ := self.TokenPolicies()
	if !slices.Equal(pols, []string{"spotter"}) {
		t.Errorf("VAULT_TOKEN has policies %v; want [spotter] alone", pols)
	}
	installed, err := srv.Client(t).Sys().GetPolicy("spotter")
	if err != nil {
		t.Fatal(err)
	}
	if installed != deploy.VaultPolicyFile {
		t.Errorf("the policy named spotter is not deploy/vault/spotter.hcl:\n%s", installed)
	}

	d := deploy.DefaultVaultNames()
	v := openVault(t, secrets.VaultConfig{Addr: srv.Addr, Token: tok, KVMount: d.KVMount, TransitMount: d.TransitMount,
		KeyName: d.KeyName, SigningKeyName: d.SigningKeyName, Logger: testLogger(t)})
	ctx := context.Background()
	key := vaulttest.Unique("devtoken") + "/r"
	sealed, err := v.Seal(ctx, "tok", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Put(ctx, key, secrets.Record{Public: []byte("p"), Sealed: sealed}, secrets.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Read("sys/mounts"); !denied(err) {
		t.Errorf("VAULT_TOKEN reads sys/mounts (%v): it is wider than the policy", err)
	}
}
