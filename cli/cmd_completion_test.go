package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBashCompletion loads the script into a real bash and asks it to
// complete, as the shell does on Tab.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "spotter.bash")
	if err := os.WriteFile(script, []byte(mustCLI(t, nil, "", "completion", "bash").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		words []string // the command line, the last word being completed
		want  []string
	}{
		{name: "commands", words: []string{"spotter", "to"}, want: []string{"token", "totp"}},
		{name: "every command", words: []string{"spotter", ""}, want: []string{"completion", "keys", "pool", "serve", "sim", "task", "token", "totp", "version"}},
		{name: "subcommands", words: []string{"spotter", "token", "r"}, want: []string{"revoke", "rotate"}},
		{name: "a subcommand's flags", words: []string{"spotter", "task", "launch", "--pre"}, want: []string{"--preset"}},
		{name: "flags not of another subcommand", words: []string{"spotter", "task", "status", "--pre"}, want: nil},
		{name: "serve's flags", words: []string{"spotter", "serve", "--sand"}, want: []string{"--sandbox"}},
		{name: "shells", words: []string{"spotter", "completion", "f"}, want: []string{"fish"}},
		{name: "files where a value goes", words: []string{"spotter", "task", "launch", "--user-data-file", "zz-no-such"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quoted := make([]string, len(tt.words))
			for i, w := range tt.words {
				quoted[i] = "'" + w + "'"
			}
			prog := "source " + script + "; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" +
				strconv.Itoa(len(tt.words)-1) + `; _spotter; printf '%s\n' "${COMPREPLY[@]}"`
			out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			got := strings.Fields(string(out))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("completing %q = %q; want %q", tt.words, got, tt.want)
			}
		})
	}
}

// TestCompletionScripts checks the zsh and fish scripts name every command
// and subcommand and their flags; a shell that is installed also parses them.
func TestCompletionScripts(t *testing.T) {
	leaves, _ := commandPaths(t)
	tests := []struct {
		shell    string
		want     []string
		checkCmd []string // parses the script without running it, if installed
	}{
		{shell: "zsh", want: []string{"#compdef spotter", "bashcompinit", "complete -o default -F _spotter spotter", "--preset"}, checkCmd: []string{"zsh", "-n"}},
		{shell: "fish", want: []string{"-a token -d", "__fish_seen_subcommand_from task; and __fish_seen_subcommand_from launch' -l preset",
			"__fish_seen_subcommand_from serve' -l sandbox"}, checkCmd: []string{"fish", "--no-execute"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			out := mustCLI(t, nil, "", "completion", tt.shell).stdout
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s script lacks %q", tt.shell, w)
				}
			}
			for _, c := range leaves {
				last := c[strings.LastIndex(c, " ")+1:]
				if !strings.Contains(out, last) {
					t.Errorf("%s script never names %q", tt.shell, c)
				}
			}
			if _, err := exec.LookPath(tt.checkCmd[0]); err != nil {
				return
			}
			f := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(tt.checkCmd[0], append(tt.checkCmd[1:], f)...).CombinedOutput(); err != nil {
				t.Errorf("%s does not parse the script: %v\n%s", tt.shell, err, b)
			}
		})
	}
}
