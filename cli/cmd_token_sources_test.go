package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
)

// TestTokenSources: the CLI sets a token's webhook sources from secret
// files on create, changes and removes them on rotate, and never prints a
// source secret.
func TestTokenSources(t *testing.T) {
	env, logs := startAdminSandbox(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	slackSecret := "8f14e45fceea167a5a36dedd4bea2543"
	iftttSecret := "c9f0f895fb98ab9159f51fd0297e236d0f1b7a2e"
	slack := file("slack", slackSecret+"\n")
	ifttt := file("ifttt", iftttSecret)
	twilio := file("twilio", "0cc175b9c0f1b6a831c399e269772661")

	created := createTestToken(t, env, "hooks", "--slack-signing-secret-file", slack, "--ifttt-secret-file", ifttt)
	if !slices.Equal(created.Sources, []string{"ifttt", "slack"}) && !slices.Equal(created.Sources, []string{"slack", "ifttt"}) {
		t.Fatalf("created sources = %v; want slack and ifttt", created.Sources)
	}

	text := mustCLI(t, env, testSecret+"\n", "token", "create", "--name", "hooks-text", "--access-key-id", testKeyID,
		"--secret-access-key-stdin", "--region", "us-east-1", "--instance-types", "t3.micro", "--ami", testAMI,
		"--slack-signing-secret-file", slack)
	if !strings.Contains(text.stdout, "Slack webhook URL:") || !strings.Contains(text.stdout, "/slack") {
		t.Errorf("token create printed %q; want the Slack webhook URL", text.stdout)
	}

	tests := []struct {
		name        string
		args        []string
		wantSources []string
		wantErr     string
	}{
		{name: "add twilio", args: []string{"--twilio-auth-token-file", twilio}, wantSources: []string{"ifttt", "slack", "twilio"}},
		{name: "remove slack and ifttt", args: []string{"--remove-sources", "slack,ifttt"}, wantSources: []string{"twilio"}},
		{name: "file and removal contradict", args: []string{"--slack-signing-secret-file", slack, "--remove-sources", "slack"}, wantErr: "contradict"},
		{name: "unknown source", args: []string{"--remove-sources", "teams"}, wantErr: `"teams" is not a source`},
		{name: "missing file", args: []string{"--slack-signing-secret-file", filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "two lines", args: []string{"--slack-signing-secret-file", file("two", "a-secret-line\nanother\n")}, wantErr: "alone, on one line"},
		{name: "empty file", args: []string{"--twilio-auth-token-file", file("empty", "\n")}, wantErr: "alone, on one line"},
		{name: "short IFTTT secret", args: []string{"--ifttt-secret-file", file("short", "too-short")}, wantErr: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, env, "", append([]string{"token", "rotate", created.ID, "--json"}, tt.args...)...)
			if tt.wantErr != "" {
				if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
					t.Fatalf("rotate %v = %v; want an error containing %q", tt.args, r.err, tt.wantErr)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("rotate %v = %v\n%s", tt.args, r.err, r.stderr)
			}
			var out api.RotatedToken
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(out.Sources))
			if !slices.Equal(got, tt.wantSources) {
				t.Errorf("sources after rotate %v = %v; want %v", tt.args, got, tt.wantSources)
			}
			show := mustCLI(t, env, "", "token", "show", created.ID)
			if !strings.Contains(show.stdout, "Sources") || !strings.Contains(show.stdout, tt.wantSources[0]) {
				t.Errorf("token show = %q; want the sources listed", show.stdout)
			}
		})
	}
	for _, secret := range []string{slackSecret, iftttSecret} {
		if strings.Contains(logs.String(), secret) || strings.Contains(text.stdout+text.stderr, secret) {
			t.Errorf("a source secret (%d chars) was printed or logged", len(secret))
		}
	}
}
