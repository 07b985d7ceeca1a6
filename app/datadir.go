package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// checkDataDir refuses a data dir that group or others can enter or read,
// and a secret file in it that they can, with the chmod that fixes it.
// Serve makes the dir 0700 and these files 0600 itself, so a wider mode was
// set by someone else (an unpacked backup, a shared volume, a umask-less
// copy), and starting anyway would keep the master key readable by every
// local account.
func checkDataDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // no Unix modes; ACLs are the operator's
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data dir %s is open to group or others (mode %04o) and holds the master key, TLS key and store; "+
			"make it the owner's alone and start again: chmod 700 %s", dir, perm, shellQuote(dir))
	}
	// The files that must stay the owner's: the embedded store's master
	// key, the self-signed TLS key, and the store (sealed, but its token
	// records are nobody else's business).
	for _, name := range []string{"master.key", "tls-key.pem", "spotter.db"} {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p) // a symlink's own mode is always 0777: its target's counts
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("data dir file %s: %w", p, err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("%s is open to group or others (mode %04o); make it the owner's alone and start again: chmod 600 %s",
				p, perm, shellQuote(p))
		}
	}
	return nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote makes a path safe to paste into a shell.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
