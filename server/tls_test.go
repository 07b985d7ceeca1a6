package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	first, err := LoadOrCreateCert(dir, []string{"spotter.example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created {
		t.Error("first call did not create a certificate")
	}
	leaf, err := x509.ParseCertificate(first.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "spotter.example.com"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm = %v; want ECDSA", leaf.PublicKeyAlgorithm)
	}
	sum := sha256.Sum256(leaf.Raw)
	if got, want := strings.ReplaceAll(first.Fingerprint, ":", ""), strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
		t.Errorf("fingerprint = %s; want %s", got, want)
	}
	st, err := os.Stat(filepath.Join(dir, "tls-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v; want 0600", st.Mode().Perm())
	}

	tests := []struct {
		name        string
		hosts       []string
		now         time.Time
		wantCreated bool
	}{
		{name: "reused for the same hosts", hosts: []string{"spotter.example.com"}, now: now, wantCreated: false},
		{name: "reused for a subset", hosts: nil, now: now, wantCreated: false},
		{name: "remade for a new public host", hosts: []string{"other.example.com"}, now: now, wantCreated: true},
		{name: "remade near expiry", hosts: []string{"other.example.com"}, now: now.AddDate(1, 0, -1), wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadOrCreateCert(dir, tt.hosts, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Created != tt.wantCreated {
				t.Errorf("Created = %v; want %v", got.Created, tt.wantCreated)
			}
		})
	}
}
