package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolSecretsCommands: set from stdin and from a file (scoped), list
// and list --json show no value, rm removes once; the values are nowhere
// in the output or the server's log.
func TestPoolSecretsCommands(t *testing.T) {
	env, logs := startAdminSandbox(t)
	tok := createTestToken(t, env, "pool-token", "--max-running", "10", "--max-ttl", "12h", "--allow-user-data")
	def := `{"name": "linux-ci", "tokenId": "` + tok.ID + `", "region": "us-east-1", "ami": "` + testAMI + `",
	  "launchConfigs": [{"instanceType": "m5.large", "capacity": 1}], "maxCapacity": 10, "maxLifetime": "12h", "bootstrap": "buildkite-agent"}`
	mustCLI(t, env, def, "pool", "create")
	const agentCanary, npmCanary = "CANARY-cli-agent-token-1", "CANARY-cli-npm-2"
	file := filepath.Join(t.TempDir(), "npm")
	if err := os.WriteFile(file, []byte(npmCanary), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, stdin string
		args        []string
		wantOut     []string
		wantErr     string
	}{
		{name: "set from stdin", stdin: agentCanary, args: []string{"pool", "secrets", "set", "linux-ci", "agent-token"},
			wantOut: []string{"Secret agent-token of pool linux-ci stored (24 bytes)"}},
		{name: "set scoped from a file", args: []string{"pool", "secrets", "set", "linux-ci", "env.NPM_TOKEN", "--scope", "pipeline/web", "--file", file},
			wantOut: []string{"scope pipeline/web"}},
		{name: "list", args: []string{"pool", "secrets", "list", "linux-ci"}, wantOut: []string{"SCOPE", "(pool)", "agent-token", "24", "pipeline/web", "env.NPM_TOKEN"}},
		{name: "list as JSON", args: []string{"pool", "secrets", "list", "linux-ci", "--json"}, wantOut: []string{`"name": "env.NPM_TOKEN"`, `"scope": "pipeline/web"`}},
		{name: "set: a value on the command line is refused", args: []string{"pool", "secrets", "set", "linux-ci", "agent-token", "value"}, wantErr: "want a pool name and a secret name"},
		{name: "no action", args: []string{"pool", "secrets", "linux-ci"}, wantErr: "name an action"},
		{name: "set: a bad scope", stdin: "x", args: []string{"pool", "secrets", "set", "linux-ci", "x", "--scope", "team/x"}, wantErr: "invalid_request: scope"},
		{name: "set: an unknown pool", stdin: "x", args: []string{"pool", "secrets", "set", "nope", "x"}, wantErr: "not_found"},
		{name: "rm", args: []string{"pool", "secrets", "rm", "linux-ci", "env.NPM_TOKEN", "--scope", "pipeline/web"}, wantOut: []string{"removed, scope pipeline/web"}},
		{name: "rm again", args: []string{"pool", "secrets", "rm", "linux-ci", "env.NPM_TOKEN", "--scope", "pipeline/web"}, wantErr: "not_found"},
	}
	var all strings.Builder
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := runCLI(t, env, s.stdin, s.args...)
			all.WriteString(r.stdout + r.stderr)
			if s.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), s.wantErr) {
					t.Fatalf("err = %v; want %q\nstdout: %s", r.err, s.wantErr, r.stdout)
				}
				all.WriteString(r.err.Error())
				return
			}
			if r.err != nil {
				t.Fatalf("err = %v\nstderr: %s", r.err, r.stderr)
			}
			for _, w := range s.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
	for _, c := range []string{agentCanary, npmCanary} {
		if strings.Contains(all.String(), c) || strings.Contains(logs.String(), c) {
			t.Errorf("secret %q is in the CLI's output or the server's log", c)
		}
	}
}
