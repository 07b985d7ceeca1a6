package app

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New refuses a data dir, or a secret file in it, that group or others
// can read, and names the chmod that fixes it.
func TestServeRefusesOpenDataDir(t *testing.T) {
	tests := map[string]struct {
		dirMode os.FileMode
		file    string
		mode    os.FileMode
		// link puts the file elsewhere and a symlink to it in the dir.
		link bool
		want string // "" = serve starts
	}{
		"dir 0755":              {dirMode: 0o755, want: "chmod 700 %DIR%"},
		"dir 0750":              {dirMode: 0o750, want: "chmod 700 %DIR%"},
		"dir 0701":              {dirMode: 0o701, want: "chmod 700 %DIR%"},
		"master.key 0644":       {dirMode: 0o700, file: "master.key", mode: 0o644, want: "chmod 600 %DIR%/master.key"},
		"master.key 0640":       {dirMode: 0o700, file: "master.key", mode: 0o640, want: "chmod 600 %DIR%/master.key"},
		"tls-key.pem 0604":      {dirMode: 0o700, file: "tls-key.pem", mode: 0o604, want: "chmod 600 %DIR%/tls-key.pem"},
		"dir 0700, files 0600":  {dirMode: 0o700, file: "master.key", mode: 0o600},
		"dir 0700, public cert": {dirMode: 0o700, file: "tls-cert.pem", mode: 0o644},
		"symlinked key, 0600":   {dirMode: 0o700, file: "master.key", mode: 0o600, link: true},
		"symlinked key, 0644":   {dirMode: 0o700, file: "master.key", mode: 0o644, link: true, want: "chmod 600 %DIR%/master.key"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data dir") // a space: the fix must still paste
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.file != "" {
				p := filepath.Join(dir, tt.file)
				if tt.link {
					target := filepath.Join(t.TempDir(), tt.file)
					if err := os.Symlink(target, p); err != nil {
						t.Fatal(err)
					}
					p = target
				}
				if tt.file == "master.key" {
					// A valid key, so a good mode lets serve start.
					if err := os.WriteFile(p, []byte(strings.Repeat("ab", 32)), tt.mode); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, []byte("x"), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if err := checkDataDir(dir); err != nil {
					t.Fatalf("checkDataDir = %v; want nil", err)
				}
				return
			}
			a, err := New(context.Background(), sandboxConfig(dir), discardLog(), io.Discard)
			if err == nil {
				a.Close()
			}
			want := strings.ReplaceAll(tt.want, "%DIR%", dir)
			want = strings.Replace(want, " "+dir, " '"+dir, 1) + "'"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("serve with %s = %v; want an error naming %q", name, err, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "spotter.db")); err == nil {
				t.Error("serve created its store in the refused dir")
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/spotter": "/var/lib/spotter",
		"/tmp/a b":         "'/tmp/a b'",
		"/tmp/it's":        `'/tmp/it'\''s'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s; want %s", in, got, want)
		}
	}
}
