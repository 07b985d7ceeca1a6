package app_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPoolBootstrapHandOff: serve's reconciler launches a bootstrapped
// pool with user data that carries the launch's credential and serve's
// URL and certificate but no secret; the instance trades it, with its
// signed identity document (verified with --identity-cert), for the
// pool's secrets once, and a second time gets 401.
func TestPoolBootstrapHandOff(t *testing.T) {
	ps := newPoolStack(t, "embedded")
	pemText, err := ps.sim.IdentityCertificate()
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(t.TempDir(), "identity.pem")
	if err := os.WriteFile(certFile, pemText, 0o600); err != nil {
		t.Fatal(err)
	}
	ps.cfg.IdentityCert = certFile
	s := ps.serve(t)
	tok := s.createToken(t, `{"name":"pool-token","credentials":`+keysJSON()+`,"policy":`+
		strings.Replace(poolPolicy, `"tasks"`, `"allowUserData":true,"tasks"`, 1)+`}`)
	body := `{"name":"bk","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.2xlarge","capacity":4}],"maxCapacity":20,"maxLifetime":"2h","bootstrap":"buildkite-agent","terminateAfterJob":true}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != http.StatusCreated {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	const canary = "CANARY-e2e-agent-token"
	if code, _, raw := call(t, s.client, "PUT", s.base+"/v1/pools/bk/secrets/agent-token", testAdminToken, "application/json",
		[]byte(`{"value":"`+canary+`"}`)); code != http.StatusOK {
		t.Fatalf("set secret = %d %s", code, raw)
	}
	demand(t, s, "bk", `{"pending":4,"running":0,"idle":0}`)
	eventually(t, s, "the pool's instance", func() bool { return len(poolInstances(ps.sim, "bk")) == 1 })
	id := poolInstances(ps.sim, "bk")[0].InstanceID

	imds := func(path string) string {
		resp, err := http.Get(ps.simURL + "/_sim/imds/" + id + "/latest/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	ud := imds("user-data")
	m := regexp.MustCompile(`SPOTTER_CREDENTIAL=(spb_[a-z2-7]{52})\n`).FindStringSubmatch(ud)
	if m == nil || !strings.Contains(ud, "SPOTTER_URL='"+s.base+"'") || !strings.Contains(ud, "SPOTTER_CA_PEM='-----BEGIN CERTIFICATE-----") ||
		!strings.Contains(ud, "spotter TTL guard") || strings.Contains(ud, canary) {
		t.Fatalf("user data:\n%s", ud)
	}
	req, _ := json.Marshal(map[string]string{"credential": m[1], "instanceId": id,
		"document": base64.StdEncoding.EncodeToString([]byte(imds("dynamic/instance-identity/document"))), "signature": imds("dynamic/instance-identity/signature")})
	code, v, raw := call(t, s.client, "POST", s.base+"/v1/instances/bootstrap", "", "application/json", req)
	if code != http.StatusOK {
		t.Fatalf("bootstrap = %d %s\n%s", code, raw, s.logs.String())
	}
	if sec, _ := v["secrets"].(map[string]any); sec["agent-token"] != canary || v["agents"] != float64(4) || v["terminateAfterJob"] != true {
		t.Errorf("grant = %s", raw)
	}
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/instances/bootstrap", "", "application/json", req); code != http.StatusUnauthorized || strings.Contains(raw, canary) {
		t.Errorf("second use = %d %s", code, raw)
	}
	logs := s.logs.String()
	if strings.Contains(logs, canary) || strings.Contains(logs, m[1]) || !strings.Contains(logs, `"reason":"reused"`) {
		t.Errorf("serve's log holds a secret or the credential, or lacks the refusal's audit event:\n%s", logs)
	}
}
