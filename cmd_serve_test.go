package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServePortInUse: a start that cannot bind leaves nothing behind — no
// data dir, master key, store or certificate — and says how to pick a port.
func TestServePortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	tests := []struct {
		name string
		args []string
	}{
		{name: "HTTPS with a new data dir", args: []string{"serve", "--addr", addr}},
		{name: "sandbox with a new data dir", args: []string{"serve", "--sandbox", "--addr", addr}},
		{name: "sandbox in a temporary dir", args: []string{"serve", "--sandbox", "--addr", addr}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			// The sandbox's own temporary dir is made under TMPDIR.
			t.Setenv("TMPDIR", root)
			dataDir := filepath.Join(root, "data")
			args := tt.args
			if i < 2 {
				args = append(args, "--data-dir", dataDir)
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"spotter"}, args...), envFunc(nil), strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatalf("serve on a taken port returned nil")
			}
			if code := exitCode(err); code == 0 {
				t.Errorf("exit code = 0; want non-zero")
			}
			for _, want := range []string{addr, "in use", "--addr 127.0.0.1:0"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			entries, _ := os.ReadDir(root)
			if len(entries) != 0 {
				var names []string
				filepath.WalkDir(root, func(p string, _ os.DirEntry, _ error) error {
					names = append(names, p)
					return nil
				})
				t.Errorf("a failed start left files behind: %v", names)
			}
			if stdout.Len() != 0 {
				t.Errorf("a failed start printed on stdout: %q", stdout.String())
			}
		})
	}
}

// TestSandboxTemporaryMasterKey: a sandbox in a temporary dir keeps its
// master key in memory and does not ask for a backup of a key that is
// deleted on exit; a sandbox in a named data dir still writes and warns.
func TestSandboxTemporaryMasterKey(t *testing.T) {
	_, logs, stop := startServe(t, nil, "--sandbox", "--addr", "127.0.0.1:0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "back it up") {
		t.Errorf("a temporary sandbox asked to back up its master key:\n%s", logs)
	}

	dir := t.TempDir()
	_, logs, stop = startServe(t, nil, "--sandbox", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "back it up") {
		t.Errorf("a sandbox in a kept data dir did not ask to back up its new master key:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err != nil {
		t.Errorf("sandbox in a kept data dir: %v", err)
	}
}

// TestServeMasterKeyEnv: every 32-byte key works from SPOTTER_MASTER_KEY,
// including one whose first byte is a space once decoded.
func TestServeMasterKeyEnv(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	key[0] = ' '
	env := map[string]string{envMasterKey: base64.StdEncoding.EncodeToString(key)}
	_, _, stop := startServe(t, env, "--sandbox", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
