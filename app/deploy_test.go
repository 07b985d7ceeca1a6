package app_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/server"
)

// deployedServe is one shipped deployment's `spotter serve`: its arguments
// and environment as the file gives them, with what only a real machine
// has put in its place (see override).
type deployedServe struct {
	args []string
	env  map[string]string
}

// override replaces values the file sets (addresses of hosts that do not
// exist here, the listen port); it fails on a name the file does not set,
// so the test cannot quietly add what the file lacks.
func (d deployedServe) override(t *testing.T, with map[string]string) {
	t.Helper()
	for k, v := range with {
		if _, ok := d.env[k]; !ok {
			t.Fatalf("the shipped file does not set %s", k)
		}
		d.env[k] = v
	}
}

// systemdServe reads deploy/systemd/spotter.service and spotter.env, with
// %d (the credentials directory) and %S (the state directory) given.
func systemdServe(t *testing.T, creds, state string) deployedServe {
	t.Helper()
	unit, err := os.ReadFile("../deploy/systemd/spotter.service")
	if err != nil {
		t.Fatal(err)
	}
	envFile, err := os.ReadFile("../deploy/systemd/spotter.env")
	if err != nil {
		t.Fatal(err)
	}
	expand := strings.NewReplacer("%d", creds, "%S", state).Replace
	d := deployedServe{env: map[string]string{}}
	for line := range strings.SplitSeq(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			f := strings.Fields(expand(v))
			if f[0] != "/usr/local/bin/spotter" || f[1] != "serve" {
				t.Fatalf("ExecStart %q does not run spotter serve", v)
			}
			d.args = f[2:]
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			k, val, _ := strings.Cut(expand(v), "=")
			d.env[k] = val
		}
	}
	for line := range strings.SplitSeq(string(envFile), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			k, v, _ := strings.Cut(line, "=")
			d.env[k] = v
		}
	}
	return d
}

// kubernetesServe reads the container of deploy/k8s/spotter.yaml's
// Deployment: secretKeyRef values come from secrets ("name/key"), and each
// volume mount path is moved under root.
func kubernetesServe(t *testing.T, secrets map[string]string, root string) deployedServe {
	t.Helper()
	b, err := os.ReadFile("../deploy/k8s/spotter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Args []string `yaml:"args"`
		Env  []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom struct {
				SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		VolumeMounts []struct {
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	var doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for dec.Decode(&doc) == nil && doc.Kind != "Deployment" {
	}
	if doc.Kind != "Deployment" || len(doc.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("no Deployment with one container in deploy/k8s/spotter.yaml")
	}
	c := doc.Spec.Template.Spec.Containers[0]
	var mounts []string
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath, filepath.Join(root, m.MountPath))
	}
	move := strings.NewReplacer(mounts...).Replace
	d := deployedServe{env: map[string]string{}}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args %v do not run serve", c.Args)
	}
	for _, a := range c.Args[1:] {
		d.args = append(d.args, move(a))
	}
	for _, e := range c.Env {
		if ref := e.ValueFrom.SecretKeyRef; ref.Name != "" {
			v, ok := secrets[ref.Name+"/"+ref.Key]
			if !ok {
				t.Fatalf("%s comes from Secret %s/%s, which the test does not make", e.Name, ref.Name, ref.Key)
			}
			d.env[e.Name] = v
			continue
		}
		d.env[e.Name] = move(e.Value)
	}
	return d
}

// TestDeployedConfigsServe starts `spotter serve` as the shipped systemd
// unit and Kubernetes manifest configure it — their arguments, their
// variable names, the certificate where they put it, an AppRole whose
// tokens hold only deploy/vault/spotter.hcl — against the test Vault, and
// uses it: ready, a token created, listed and revoked with the admin token
// the configuration gives.
func TestDeployedConfigsServe(t *testing.T) {
	srv := vaulttest.Shared(t)
	names := deploy.DefaultVaultNames()
	names.KVMount = vaulttest.Unique("deployed-kv")
	roleID, secretID := srv.AppRole(t, names)
	// One certificate for 127.0.0.1, copied to where each deployment reads it.
	certDir := dataDir(t)
	if _, err := server.LoadOrCreateCert(certDir, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(certDir, "tls-cert.pem"))
	keyPEM, _ := os.ReadFile(filepath.Join(certDir, "tls-key.pem"))
	place := func(files map[string][]byte) {
		for path, b := range files {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	creds, state := t.TempDir(), dataDir(t)
	place(map[string][]byte{filepath.Join(creds, "tls-cert.pem"): certPEM, filepath.Join(creds, "tls-key.pem"): keyPEM})
	systemd := systemdServe(t, creds, state)
	systemd.override(t, map[string]string{"VAULT_ADDR": srv.Addr, "SPOTTER_VAULT_ADDRS": "", "VAULT_CACERT": "",
		"VAULT_ROLE_ID": roleID, "VAULT_SECRET_ID": secretID, "SPOTTER_ADDR": "127.0.0.1:0"})

	root := dataDir(t)
	const admin = "k8s-admin-token-of-32-characters"
	k8s := kubernetesServe(t, map[string]string{"spotter-vault/role-id": roleID, "spotter-vault/secret-id": secretID,
		"spotter-admin/token": admin}, root)
	place(map[string][]byte{filepath.Join(root, "etc/spotter/tls/tls.crt"): certPEM, filepath.Join(root, "etc/spotter/tls/tls.key"): keyPEM,
		// The dev server speaks plain HTTP; the CA file is still read.
		filepath.Join(root, "etc/spotter/vault/ca.crt"): certPEM})
	if err := os.Mkdir(filepath.Join(root, "data"), 0o777); err != nil { // an emptyDir is open to all
		t.Fatal(err)
	}
	k8s.override(t, map[string]string{"VAULT_ADDR": srv.Addr, "SPOTTER_VAULT_ADDRS": "", "SPOTTER_ADDR": "127.0.0.1:0"})

	for name, d := range map[string]deployedServe{"systemd": systemd, "kubernetes": k8s} {
		t.Run(name, func(t *testing.T) {
			env := maps.Clone(d.env)
			env["SPOTTER_VAULT_MOUNT"] = names.KVMount // the test's own records; production uses the default
			base, logs, _ := startServe(t, env, d.args...)
			if code, _ := getJSON(t, client, base+"/readyz"); code != 200 {
				t.Fatalf("/readyz = %d\n%s", code, logs)
			}
			adminTok := env["SPOTTER_ADMIN_TOKEN"]
			code, tok, raw := call(t, client, "POST", base+"/v1/tokens", adminTok, "application/json",
				[]byte(`{"name":"`+name+`","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`}`))
			if code != 201 {
				t.Fatalf("create token = %d %s\n%s", code, raw, logs)
			}
			if code, _, raw := call(t, client, "GET", base+"/v1/tokens", adminTok, "", nil); code != 200 || !strings.Contains(raw, tok["id"].(string)) {
				t.Fatalf("list tokens = %d %s", code, raw)
			}
			if code, _, raw := call(t, client, "DELETE", base+"/v1/tokens/"+tok["id"].(string), adminTok, "", nil); code != 200 {
				t.Fatalf("revoke = %d %s", code, raw)
			}
			out := logs.String()
			if !strings.Contains(out, "logged in to vault with AppRole") {
				t.Errorf("serve did not log in with AppRole:\n%s", out)
			}
			for _, secret := range []string{secretID, adminTok} {
				if strings.Contains(out, secret) {
					t.Errorf("a secret is in the log")
				}
			}
		})
	}
}
