package secrets_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/secrets"
)

func TestParseMasterKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "base64", in: base64.StdEncoding.EncodeToString(key)},
		{name: "base64 with newline", in: base64.StdEncoding.EncodeToString(key) + "\n"},
		{name: "base64url unpadded", in: base64.RawURLEncoding.EncodeToString(key)},
		{name: "hex", in: hex.EncodeToString(key)},
		{name: "raw 32 bytes", in: string(key)},
		{name: "too short", in: base64.StdEncoding.EncodeToString(key[:16]), wantErr: true},
		{name: "not encoded", in: "correct horse battery staple", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secrets.ParseMasterKey([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseMasterKey(%q) succeeded; want an error", tt.in)
				}
				if strings.Contains(err.Error(), tt.in) && tt.in != "" {
					t.Fatalf("error %q echoes the key", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("ParseMasterKey(%q) = %x, %v; want %x", tt.in, got, err, key)
			}
		})
	}
}

func TestEmbeddedKeyFile(t *testing.T) {
	dir := t.TempDir()
	e, err := secrets.OpenEmbedded(dir, nil, testLogger(t))
	if err != nil {
		t.Fatalf("first OpenEmbedded: %v", err)
	}
	sealed, err := e.Seal(bg, "tok", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	e.Close()

	for _, name := range []string{"master.key", "spotter.db"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %04o; want 0600", name, perm)
		}
	}

	// Reopening reuses the key file: old ciphertexts still open.
	e, err = secrets.OpenEmbedded(dir, nil, testLogger(t))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got, err := e.Open(bg, "tok", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("Open after reopen = %q, %v", got, err)
	}
	e.Close()

	// A key file others can read is refused, not used.
	if err := os.Chmod(filepath.Join(dir, "master.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.OpenEmbedded(dir, nil, testLogger(t)); err == nil || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("OpenEmbedded with a 0644 key file = %v; want a refusal naming the mode", err)
	}
}

func TestEmbeddedMasterKey(t *testing.T) {
	dir := t.TempDir()
	keyA := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	keyB := hex.EncodeToString(bytes.Repeat([]byte{2}, 32))

	e, err := secrets.OpenEmbedded(dir, []byte(keyA), testLogger(t))
	if err != nil {
		t.Fatalf("OpenEmbedded(key A): %v", err)
	}
	e.Close()
	if _, err := os.Stat(filepath.Join(dir, "master.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was written although SPOTTER_MASTER_KEY was given (stat: %v)", err)
	}
	if _, err := secrets.OpenEmbedded(dir, []byte(keyB), testLogger(t)); err == nil {
		t.Fatalf("OpenEmbedded with another master key succeeded; want a mismatch error")
	}
	if _, err := secrets.OpenEmbedded(dir, []byte("short"), testLogger(t)); err == nil || !strings.Contains(err.Error(), "base64") {
		t.Fatalf("OpenEmbedded(bad key) = %v; want a clear format error", err)
	}
	e, err = secrets.OpenEmbedded(dir, []byte(keyA), testLogger(t))
	if err != nil {
		t.Fatalf("reopen with key A: %v", err)
	}
	e.Close()
}

func TestEmbeddedSingleNodeLog(t *testing.T) {
	var logs logBuffer
	e, err := secrets.OpenEmbedded(t.TempDir(), nil, slogTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if !strings.Contains(logs.String(), "single node") {
		t.Fatalf("open log does not say the store is for a single node:\n%s", logs.String())
	}
}

func TestEmbeddedSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	e, err := secrets.OpenEmbedded(dir, nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// bbolt's file lock keeps a second process (or store) out, after its timeout.
	if e2, err := secrets.OpenEmbedded(dir, nil, testLogger(t)); err == nil {
		e2.Close()
		t.Fatalf("second OpenEmbedded on one data dir succeeded")
	}
}

func TestEmbeddedClosed(t *testing.T) {
	e, err := secrets.OpenEmbedded(t.TempDir(), nil, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := e.Seal(bg, "tok", []byte("x"))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close = %v; want nil", err)
	}
	if _, err := e.Seal(bg, "tok", []byte("x")); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("Seal after Close = %v; want ErrUnavailable", err)
	}
	if _, err := e.Open(bg, "tok", sealed); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("Open after Close = %v; want ErrUnavailable", err)
	}
}
