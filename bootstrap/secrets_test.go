package bootstrap_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/pools"
)

// TestSecretsWriteOnly: list names a pool's secrets with size and time,
// never a value; rm removes one; a secret set twice is replaced.
func TestSecretsWriteOnly(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open, false)
			f.setCanaries(t)
			if _, err := f.svc.SetSecret(bg, poolName, "", "agent-token", []byte("CANARY-replaced-42")); err != nil {
				t.Fatal(err)
			}
			list, err := f.svc.ListSecrets(bg, poolName)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(list)
			for _, c := range append(allCanaries(), "CANARY-replaced-42") {
				if strings.Contains(string(b), c) {
					t.Errorf("list shows %q", c)
				}
			}
			var got []string
			for _, s := range list {
				got = append(got, s.Scope+"|"+s.Name)
			}
			if want := "|agent-token,|git-credentials,|ssh-key,pipeline/web|env.NPM_TOKEN"; strings.Join(got, ",") != want {
				t.Errorf("list = %v; want %s", got, want)
			}
			if list[0].Bytes != len("CANARY-replaced-42") || list[0].UpdatedAt.IsZero() {
				t.Errorf("agent-token info = %+v", list[0])
			}
			if err := f.svc.RemoveSecret(bg, poolName, "pipeline/web", "env.NPM_TOKEN"); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.RemoveSecret(bg, poolName, "pipeline/web", "env.NPM_TOKEN"); apperr.Code(err) != apperr.NotFound {
				t.Errorf("second rm: %v; want not_found", err)
			}
			if _, err := f.svc.ListSecrets(bg, "no-such-pool"); apperr.Code(err) != apperr.NotFound {
				t.Errorf("list of a missing pool: %v", err)
			}
		})
	}
}

// TestSecretsNotInherited: a pool deleted and created again under its
// name (a new incarnation) has none of its predecessor's secrets, and its
// instances get none of them.
func TestSecretsNotInherited(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	f.setCanaries(t)
	f.pools.recs[poolName] = pools.Record{Pool: ciPool(), Incarnation: "reborn"}
	if list, err := f.svc.ListSecrets(bg, poolName); err != nil || len(list) != 0 {
		t.Fatalf("list = %v, %v; want none", list, err)
	}
	cred, _ := f.issue(t, ciPool(), launchCT, 1)
	f.launched("i-0123456789abcdef0", launchCT, f.clk.Now())
	g, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0"})
	if err != nil || len(g.Secrets) != 0 || len(g.Scoped) != 0 {
		t.Fatalf("grant %+v, %v; want no secrets", g, err)
	}
	if _, err := f.svc.SetSecret(bg, poolName, "", "agent-token", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.svc.ListSecrets(bg, poolName); len(list) != 1 || list[0].Name != "agent-token" {
		t.Errorf("list = %v; want the new agent-token alone", list)
	}
}

// TestSecretBounds holds names, scopes and sizes at and past their edges.
func TestSecretBounds(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	cases := map[string]struct {
		scope, name string
		size        int
		ok          bool
	}{
		"value at the limit":     {name: "big", size: bootstrap.MaxSecretBytes, ok: true},
		"value past the limit":   {name: "big", size: bootstrap.MaxSecretBytes + 1},
		"empty value":            {name: "empty", size: 0},
		"name at the limit":      {name: strings.Repeat("n", bootstrap.MaxNameLen), size: 1, ok: true},
		"name past the limit":    {name: strings.Repeat("n", bootstrap.MaxNameLen+1), size: 1},
		"name with a slash":      {name: "a/b", size: 1},
		"name with dots":         {name: "a..b", size: 1},
		"name with a space":      {name: "a b", size: 1},
		"repo scope":             {scope: "repo/acme/web.app", name: "git-credentials", size: 1, ok: true},
		"pipeline scope":         {scope: "pipeline/web-deploy", name: "env.X", size: 1, ok: true},
		"scope escaping":         {scope: "pipeline/../x", name: "env.X", size: 1},
		"scope of another kind":  {scope: "team/web", name: "env.X", size: 1},
		"scope past the limit":   {scope: "pipeline/" + strings.Repeat("p", bootstrap.MaxScopeLen), name: "x", size: 1},
		"repo scope, dot-dot":    {scope: "repo/acme/..", name: "x", size: 1},
		"scope with a space":     {scope: "pipeline/a b", name: "x", size: 1},
		"name starting with dot": {name: ".hidden", size: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.SetSecret(bg, poolName, tc.scope, tc.name, []byte(strings.Repeat("v", tc.size)))
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok && apperr.Code(err) != apperr.Invalid {
				t.Fatalf("err = %v; want %s", err, apperr.Invalid)
			}
		})
	}
	if _, err := f.svc.SetSecret(bg, "no-such-pool", "", "x", []byte("v")); apperr.Code(err) != apperr.NotFound {
		t.Errorf("a missing pool: %v", err)
	}
}

// TestSecretCount holds the number of secrets at MaxSecrets.
func TestSecretCount(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	for i := range bootstrap.MaxSecrets {
		if _, err := f.svc.SetSecret(bg, poolName, "", "s"+strings.Repeat("x", i%50)+string(rune('a'+i/50)), []byte("v")); err != nil {
			t.Fatalf("secret %d: %v", i, err)
		}
	}
	if _, err := f.svc.SetSecret(bg, poolName, "", "one-more", []byte("v")); apperr.Code(err) != apperr.Invalid {
		t.Fatalf("secret %d: %v; want %s", bootstrap.MaxSecrets+1, err, apperr.Invalid)
	}
	if _, err := f.svc.SetSecret(bg, poolName, "", "sa", []byte("replaced")); err != nil {
		t.Fatalf("replacing one at the limit: %v", err)
	}
}
