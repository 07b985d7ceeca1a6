package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolSourcesCommands sets and shows a pool's CI sources through the
// CLI against a sandbox server; the secret is read from a file and shown
// nowhere.
func TestPoolSourcesCommands(t *testing.T) {
	env, logs := startAdminSandbox(t)
	tok := createTestToken(t, env, "pool-token", "--max-running", "10", "--max-ttl", "12h")
	def := `{"name": "linux-ci", "tokenId": "` + tok.ID + `", "region": "us-east-1", "ami": "` + testAMI + `",
	  "launchConfigs": [{"instanceType": "m5.large", "capacity": 1}], "maxCapacity": 10, "maxLifetime": "12h", "labels": ["linux"]}`
	mustCLI(t, env, def, "pool", "create", "-")
	const canary = "gh-cli-secret-CANARY-55aa"
	file := filepath.Join(t.TempDir(), "sources.json")
	if err := os.WriteFile(file, []byte(`{"github": {"webhookSecret": "`+canary+`"}, "buildkite": {"agentToken": "bkua_`+canary+`", "queue": "linux"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, stdin string
		args        []string
		wantOut     []string
		wantErr     string
	}{
		{name: "none yet", args: []string{"pool", "sources", "linux-ci"}, wantOut: []string{"Pool linux-ci has no CI sources."}},
		{name: "set from a file", args: []string{"pool", "sources-update", "linux-ci", file}, wantOut: []string{"Sources updated.", "GitHub:       webhook secret set", "Buildkite:    queue linux", "agent token set"}},
		{name: "show", args: []string{"pool", "sources", "linux-ci"}, wantOut: []string{"webhook secret set", "https://api.github.com", "https://agent.buildkite.com/v3",
			"runners registered at the hand-off: pool-secrets"}},
		{name: "show as JSON", args: []string{"pool", "sources", "linux-ci", "--json"}, wantOut: []string{`"webhookSecretSet": true`, `"agentTokenSet": true`}},
		{name: "drop buildkite", stdin: `{"buildkite": null}`, args: []string{"pool", "sources-update", "linux-ci"}, wantOut: []string{"GitHub:"}},
		{name: "jit with a token", stdin: `{"github": {"token": "ghp_` + canary + `", "repos": ["octo/app"], "runnerGroupId": 3}}`, args: []string{"pool", "sources-update", "linux-ci"},
			wantOut: []string{"runners registered at the hand-off: jit, group 3"}},
		{name: "a field named wrong", stdin: `{"github": {"secret": "x"}}`, args: []string{"pool", "sources-update", "linux-ci"}, wantErr: `sources.github: json: unknown field "secret"`},
		{name: "a bad repo", stdin: `{"github": {"token": "t", "repos": ["app"]}}`, args: []string{"pool", "sources-update", "linux-ci"}, wantErr: "sources.github.repos: [0] \"app\" is not owner/name"},
		{name: "unknown pool", args: []string{"pool", "sources", "nope"}, wantErr: "not_found"},
	}
	var outs []string
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := runCLI(t, env, s.stdin, s.args...)
			outs = append(outs, r.stdout, r.stderr)
			if s.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), s.wantErr) {
					t.Fatalf("err = %v; want %q\nstdout: %s", r.err, s.wantErr, r.stdout)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("err = %v\nstderr: %s", r.err, r.stderr)
			}
			for _, w := range s.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
	if strings.Contains(strings.Join(outs, "\n"), canary) || strings.Contains(logs.String(), canary) {
		t.Fatal("a source secret was printed or logged")
	}
}
