package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// commandPaths lists every command and subcommand, read from the help the
// CLI prints, so a new command is covered without editing the tests.
func commandPaths(t *testing.T) (leaves, groups []string) {
	t.Helper()
	for _, c := range completionTree(context.Background()) {
		if len(c.subs) == 0 {
			leaves = append(leaves, c.name)
			continue
		}
		groups = append(groups, c.name)
		for _, s := range c.subs {
			leaves = append(leaves, c.name+" "+s.name)
		}
	}
	if len(leaves) < 15 || len(groups) < 3 {
		t.Fatalf("found commands %v and groups %v; the help no longer lists them", leaves, groups)
	}
	return leaves, groups
}

type streamCase struct {
	name       string
	args       []string
	wantExit   int
	wantStdout string // prefix of stdout; "" means stdout must be empty
	wantStderr string // substring of stderr; "" means stderr must be empty
	wantErr    string // substring of the error
}

func checkStreams(t *testing.T, tt streamCase) {
	t.Helper()
	r := runCLI(t, nil, "", tt.args...)
	if got := ExitCode(r.err); got != tt.wantExit {
		t.Errorf("spotter %s: exit %d (%v); want %d", strings.Join(tt.args, " "), got, r.err, tt.wantExit)
	}
	if tt.wantStdout == "" && r.stdout != "" {
		t.Errorf("spotter %s: stdout = %q; want nothing", strings.Join(tt.args, " "), r.stdout)
	}
	if !strings.HasPrefix(r.stdout, tt.wantStdout) {
		t.Errorf("spotter %s: stdout = %q; want it to begin %q", strings.Join(tt.args, " "), r.stdout, tt.wantStdout)
	}
	if tt.wantStderr == "" && r.stderr != "" {
		t.Errorf("spotter %s: stderr = %q; want nothing", strings.Join(tt.args, " "), r.stderr)
	}
	if !strings.Contains(r.stderr, tt.wantStderr) {
		t.Errorf("spotter %s: stderr = %q; want %q in it", strings.Join(tt.args, " "), r.stderr, tt.wantStderr)
	}
	if tt.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr)) {
		t.Errorf("spotter %s: error %v; want %q in it", strings.Join(tt.args, " "), r.err, tt.wantErr)
	}
}

// TestHelpAndUsageStreams: for every command, help asked for goes to
// stdout with exit 0; a bad flag or a missing command goes to stderr with
// exit 2, under the same "usage: spotter …" header.
func TestHelpAndUsageStreams(t *testing.T) {
	leaves, groups := commandPaths(t)
	tests := []streamCase{
		{name: "no command", args: nil, wantExit: 2, wantStderr: "usage: spotter <command>", wantErr: "name a command"},
		{name: "--help", args: []string{"--help"}, wantStdout: "usage: spotter <command>"},
		{name: "-h", args: []string{"-h"}, wantStdout: "usage: spotter <command>"},
		{name: "help", args: []string{"help"}, wantStdout: "usage: spotter <command>"},
		{name: "help names a command", args: []string{"help", "task", "launch"}, wantStdout: "usage: spotter task launch "},
		{name: "unknown command", args: []string{"launch-everything"}, wantExit: 2, wantStderr: "usage: spotter <command>", wantErr: `unknown command "launch-everything"`},
	}
	for _, g := range groups {
		tests = append(tests,
			streamCase{name: g + " alone", args: []string{g}, wantExit: 2, wantStderr: "usage: spotter " + g + " <command>", wantErr: "name a command"},
			streamCase{name: g + " --help", args: []string{g, "--help"}, wantStdout: "usage: spotter " + g + " <command>"},
			streamCase{name: g + " unknown", args: []string{g, "explode"}, wantExit: 2, wantStderr: "usage: spotter " + g + " <command>", wantErr: "unknown command"},
		)
	}
	for _, c := range leaves {
		args := strings.Fields(c)
		tests = append(tests,
			streamCase{name: c + " --help", args: append(args, "--help"), wantStdout: "usage: spotter " + c},
			streamCase{name: c + " -h", args: append(args, "-h"), wantStdout: "usage: spotter " + c},
			streamCase{name: c + " bad flag", args: append(args, "--no-such-flag"), wantExit: 2,
				wantStderr: "usage: spotter " + c, wantErr: "flag provided but not defined: -no-such-flag"},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkStreams(t, tt) })
	}
}

// TestUsageErrorExitCodes: a command line that makes no sense exits 2 and
// points at the command's help; a failure of the work itself exits 1.
func TestUsageErrorExitCodes(t *testing.T) {
	url := "http://127.0.0.1:1/hooks/eyJhbGciOiJFZERTQSJ9.e30.c2ln"
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantExit int
		wantErr  string
		wantHint string
	}{
		{name: "token show without an id", args: []string{"token", "show"}, wantExit: 2, wantErr: "want one token id", wantHint: "spotter token show --help"},
		{name: "token unlock without an id", args: []string{"token", "unlock"}, wantExit: 2, wantErr: "want one token id", wantHint: "spotter token unlock --help"},
		{name: "token create without a name", args: []string{"token", "create"}, wantExit: 2, wantErr: "--name is required", wantHint: "spotter token create --help"},
		{name: "terminate names nothing", env: map[string]string{cliEnvCapURL: url}, args: []string{"task", "terminate"}, wantExit: 2, wantErr: "name instance ids, or --all"},
		{name: "task without a capability", args: []string{"task", "status"}, wantExit: 2, wantErr: "no capability"},
		{name: "serve with a bad address", args: []string{"serve", "--addr", "nowhere"}, wantExit: 2, wantErr: "want host:port", wantHint: "spotter serve --help"},
		{name: "serve with a bad body limit", args: []string{"serve", "--body-limit", "64Q"}, wantExit: 2, wantErr: "--body-limit"},
		{name: "serve with an argument", args: []string{"serve", "now"}, wantExit: 2, wantErr: `unexpected argument "now"`},
		{name: "sim with an argument", args: []string{"sim", "now"}, wantExit: 2, wantErr: "unexpected arguments"},
		{name: "totp without a secret", args: []string{"totp"}, wantExit: 2, wantErr: "name the secret"},
		{name: "completion without a shell", args: []string{"completion"}, wantExit: 2, wantErr: "name one shell"},
		{name: "completion for tcsh", args: []string{"completion", "tcsh"}, wantExit: 2, wantErr: "want bash, zsh or fish"},
		{name: "version with an argument", args: []string{"version", "now"}, wantExit: 2, wantErr: "unexpected argument"},
		{name: "a server that is not there is no usage error", env: map[string]string{cliEnvCapURL: url}, args: []string{"task", "status"}, wantExit: 1, wantErr: "connection refused"},
		{name: "no admin token is no usage error", args: []string{"token", "list"}, wantExit: 1, wantErr: "no admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, "", tt.args...)
			if got := ExitCode(r.err); got != tt.wantExit {
				t.Errorf("spotter %v: exit %d (%v); want %d", tt.args, got, r.err, tt.wantExit)
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("spotter %v = %v; want %q in the error", tt.args, r.err, tt.wantErr)
			}
			if tt.wantHint != "" && (r.err == nil || !strings.Contains(r.err.Error(), "see '"+tt.wantHint+"'")) {
				t.Errorf("spotter %v = %v; want it to point at %q", tt.args, r.err, tt.wantHint)
			}
			if r.stdout != "" {
				t.Errorf("spotter %v: stdout %q; want nothing", tt.args, r.stdout)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "success", err: nil, want: 0},
		{name: "usage error", err: usagef("x"), want: 2},
		{name: "wrapped usage error", err: errors.Join(errors.New("context"), usagef("x")), want: 2},
		{name: "other error", err: errors.New("AWS said no"), want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d; want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestWriteJSONKeepsPlaceholders(t *testing.T) {
	var b strings.Builder
	if err := writeJSON(&b, map[string]string{"details": "send Authorization: Bearer <token> & retry"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Bearer <token> & retry") {
		t.Errorf("writeJSON = %s; want the text as it is", b.String())
	}
}
