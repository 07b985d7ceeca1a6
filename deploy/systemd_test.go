package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile reads a systemd unit into section → key → values (a key may
// repeat, as LoadCredential= does).
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: %q is not key=value in a section", path, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnit checks the hardening the README promises is in the unit,
// and that the environment file sets what a Vault-backed replica needs.
func TestSystemdUnit(t *testing.T) {
	u := unitFile(t, "systemd/spotter.service")
	svc := u["Service"]
	for key, want := range map[string]string{
		"DynamicUser":             "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"StateDirectory":          "spotter",
		"StateDirectoryMode":      "0700",
		"UMask":                   "0077",
		"LimitCORE":               "0",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":  "yes",
		"EnvironmentFile":         "/etc/spotter/spotter.env",
		"Environment":             "SPOTTER_DATA_DIR=%S/spotter",
	} {
		if got := svc[key]; len(got) != 1 || got[0] != want {
			t.Errorf("[Service] %s = %q; want %q", key, got, want)
		}
	}
	exec := strings.Join(svc["ExecStart"], " ")
	for _, want := range []string{"spotter serve", "--tls-cert %d/tls-cert.pem", "--tls-key %d/tls-key.pem"} {
		if !strings.Contains(exec, want) {
			t.Errorf("ExecStart %q lacks %q", exec, want)
		}
	}
	creds := strings.Join(svc["LoadCredential"], " ")
	for _, want := range []string{"tls-cert.pem:/etc/spotter/tls-cert.pem", "tls-key.pem:/etc/spotter/tls-key.pem"} {
		if !strings.Contains(creds, want) {
			t.Errorf("LoadCredential %q lacks %q", creds, want)
		}
	}

	// The environment file names only variables the README documents, and
	// everything a replica on a Vault cluster needs.
	b, err := os.ReadFile("systemd/spotter.env")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for n, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			t.Fatalf("spotter.env:%d: %q is not KEY=value", n+1, line)
		}
		env[k] = v
		if !bytes.Contains(readme, []byte("`"+k+"`")) {
			t.Errorf("spotter.env sets %s, which the README's configuration does not name", k)
		}
	}
	for _, k := range []string{"VAULT_ADDR", "SPOTTER_VAULT_ADDRS", "VAULT_CACERT", "VAULT_ROLE_ID", "VAULT_SECRET_ID",
		"SPOTTER_ADMIN_TOKEN", "SPOTTER_PUBLIC_URL", "SPOTTER_ADDR"} {
		if env[k] == "" {
			t.Errorf("spotter.env does not set %s", k)
		}
	}
	if _, ok := env["VAULT_TOKEN"]; ok {
		t.Error("spotter.env sets VAULT_TOKEN: replicas log in with AppRole, whose tokens renew and expire")
	}
	if !strings.HasSuffix(env["SPOTTER_ADDR"], ":443") {
		t.Errorf("SPOTTER_ADDR %q: the unit keeps CAP_NET_BIND_SERVICE for port 443; drop it for another port", env["SPOTTER_ADDR"])
	}
}

// systemdAnalyze runs systemd-analyze, or skips when this machine has none.
func systemdAnalyze(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestSystemdVerify: systemd itself reads the unit without a warning. It
// checks ExecStart's binary exists, so that one path points at a stand-in.
func TestSystemdVerify(t *testing.T) {
	b, err := os.ReadFile("systemd/spotter.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "spotter")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("ExecStart=/usr/local/bin/spotter ")) {
		t.Fatal("ExecStart does not run /usr/local/bin/spotter")
	}
	unit := filepath.Join(dir, "spotter.service")
	if err := os.WriteFile(unit, bytes.Replace(b, []byte("ExecStart=/usr/local/bin/spotter "), []byte("ExecStart="+bin+" "), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := systemdAnalyze(t, "verify", unit)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdExposure: systemd's own score of the sandbox stays "OK" (at
// most 2.0 of 10; the unit scores 1.4 with systemd 252).
func TestSystemdExposure(t *testing.T) {
	out, err := systemdAnalyze(t, "security", "--offline=yes", "--threshold=20", "systemd/spotter.service")
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if i := strings.Index(out, "Overall exposure level"); i >= 0 {
		t.Log(strings.TrimSpace(out[i:]))
	}
}
