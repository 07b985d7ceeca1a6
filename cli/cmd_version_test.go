package cli

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "29a9423e1b2c6d7f8a9b0c1d2e3f405162738495"},
		{Key: "vcs.time", Value: "2026-11-30T21:00:00Z"},
	}
	tests := []struct {
		name   string
		linked string
		bi     *debug.BuildInfo
		want   []string
	}{
		{name: "no build info", linked: "dev", bi: nil,
			want: []string{"spotter dev\n", "revision unknown"}},
		{name: "go run: devel, no VCS", linked: "dev", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: []string{"spotter dev\n", "revision unknown", "built with go1.26.0 for "}},
		{name: "go install at a tag", linked: "dev", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.2"}},
			want: []string{"spotter v1.4.2\n"}},
		{name: "go build in a clean checkout", linked: "dev", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261130210000-29a9423e1b2c"},
			Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "false"})},
			want: []string{"spotter v0.0.0-20261130210000-29a9423e1b2c\n", "revision 29a9423e1b2c6d7f8a9b0c1d2e3f405162738495 (2026-11-30T21:00:00Z)\n"}},
		{name: "go build with local changes", linked: "dev", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: append(vcs, debug.BuildSetting{Key: "vcs.modified", Value: "true"})},
			want: []string{"spotter dev\n", "revision 29a9423e1b2c6d7f8a9b0c1d2e3f405162738495 (2026-11-30T21:00:00Z), with uncommitted changes\n"}},
		{name: "linker version wins", linked: "1.5.0-rc1", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.2"}, Settings: vcs},
			want: []string{"spotter 1.5.0-rc1\n", "revision 29a9423e1b2c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionText(tt.linked, tt.bi)
			if !strings.HasPrefix(got, tt.want[0]) {
				t.Errorf("versionText = %q; want it to begin %q", got, tt.want[0])
			}
			for _, w := range tt.want[1:] {
				if !strings.Contains(got, w) {
					t.Errorf("versionText = %q; want %q in it", got, w)
				}
			}
		})
	}
}

// TestVersionBinary builds spotter from a git checkout of this tree, with
// VCS stamping, and checks `spotter version` names that commit. The copy
// is needed because Go stamps only a checkout whose .git is a directory
// (not a git worktree) and only with the committed state.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the tree and builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	src, err := filepath.Abs("..") // the module root, where main.go is
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.Name() == ".git" {
			// A directory, or in a git worktree a file naming the real
			// one: either way, never the copy's.
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		// The repository is named outright, so no git command can reach
		// the checkout the tree was copied from.
		cmd := exec.Command("git", append([]string{"--git-dir", filepath.Join(dir, ".git"), "--work-tree", dir,
			"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		t.Fatal("the copy has a .git already")
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "version test")
	head := git("rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "spotter")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("spotter version: %v", err)
	}
	if want := "revision " + head + " ("; !strings.Contains(string(out), want) || strings.Contains(string(out), "uncommitted") {
		t.Errorf("spotter version = %q; want %q and no uncommitted changes", out, want)
	}
}
