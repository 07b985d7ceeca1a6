package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X github.com/spotter-dev/spotter/cli.version=…"; left at
// "dev", the module version from the build info is used.
var version = "dev"

// buildVersion is the version to report: the linker's, else the module's
// (set by go install …@v1.2.3, or from VCS tags by go build), else "dev".
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return resolveVersion(version, bi)
}

func resolveVersion(linked string, bi *debug.BuildInfo) string {
	if linked != "dev" && linked != "" {
		return linked
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionText is what `spotter version` prints: the version, the VCS
// revision the binary was built from, and the toolchain.
func versionText(linked string, bi *debug.BuildInfo) string {
	s := "spotter " + resolveVersion(linked, bi) + "\n"
	var rev, at, modified string
	goVersion := runtime.Version()
	if bi != nil {
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.time":
				at = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	switch {
	case rev == "":
		s += "revision unknown (built without VCS information, e.g. by go run or go test)\n"
	default:
		s += "revision " + rev
		if at != "" {
			s += " (" + at + ")"
		}
		if modified == "true" {
			s += ", with uncommitted changes"
		}
		s += "\n"
	}
	return s + fmt.Sprintf("built with %s for %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}

func runVersion(_ context.Context, args []string, _ func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", "Prints the version, the VCS revision it was built from, and the Go toolchain.", stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version: unexpected argument %q", pos[0])
	}
	bi, _ := debug.ReadBuildInfo()
	_, err = io.WriteString(stdout, versionText(version, bi))
	return err
}
