package app_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
)

// TestServeFollowsVaultLeader runs `spotter serve` on the three-node Raft
// cluster the way the README says to (VAULT_ADDR, SPOTTER_VAULT_ADDRS,
// VAULT_CACERT), starting on the leader, and kills that leader: requests in
// the election get 503 unavailable within the store's deadline, then the
// token made before the kill reads back again within 10 s.
func TestServeFollowsVaultLeader(t *testing.T) {
	c := vaulttest.ClusterToBreak(t)
	leader := c.Leader(t, 10*time.Second)
	standby := c.Standby(t)
	mount := vaulttest.Unique("serve-cluster")
	root := c.Client(t, standby)
	t.Cleanup(func() {
		if err := root.Sys().Unmount(mount); err != nil {
			t.Logf("cleanup: unmount %s: %v", mount, err)
		}
	})
	names := deploy.DefaultVaultNames()
	names.KVMount = mount
	spotterToken := c.Server(standby).SpotterToken(t, names)
	simSrv := httptest.NewServer(awssim.New(awssim.Options{Seed: 7}))
	t.Cleanup(simSrv.Close)
	env := map[string]string{
		"SPOTTER_ADMIN_TOKEN": testAdminToken, "AWS_ENDPOINT_URL_EC2": simSrv.URL, "AWS_ENDPOINT_URL_STS": simSrv.URL, "AWS_ENDPOINT_URL_PRICING": simSrv.URL,
		"VAULT_ADDR": c.Nodes[leader], "SPOTTER_VAULT_ADDRS": strings.Join(c.Nodes, ","),
		"VAULT_CACERT": c.CACert, "VAULT_TOKEN": spotterToken, "SPOTTER_VAULT_MOUNT": mount,
	}
	dir := dataDir(t)
	base, logs, _ := startServe(t, env, "--addr", "127.0.0.1:0", "--data-dir", dir)
	client := clientFor(t, base, dir)
	code, tok, raw := call(t, client, "POST", base+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"cluster","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`}`))
	if code != 201 {
		t.Fatalf("create = %d %s", code, raw)
	}
	id, _ := tok["id"].(string)

	killed := time.Now()
	c.Kill(t, leader)
	var unavailable int
	for {
		start := time.Now()
		code, body, raw, hdr := callHeader(t, client, "GET", base+"/v1/tokens/"+id, testAdminToken, "", nil)
		took := time.Since(start)
		if took > 5*time.Second+1500*time.Millisecond {
			t.Errorf("GET token at %v took %v; want within the store's 5 s deadline", start.Sub(killed), took)
		}
		if code == 200 {
			if body["id"] != id {
				t.Fatalf("GET token after the failover = %s; want token %s", raw, id)
			}
			break
		}
		if code != 503 || body["error"] != "unavailable" || hdr.Get("Retry-After") != "2" {
			t.Fatalf("GET token at %v = %d %s (Retry-After %q); want 200, or 503 unavailable with Retry-After 2", start.Sub(killed), code, raw, hdr.Get("Retry-After"))
		}
		unavailable++
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("GET token still 503 %v after the leader was killed; want 200 within 10 s\nlog:\n%s", time.Since(killed), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("token readable again %v after the kill; %d replies of 503 unavailable", time.Since(killed).Round(time.Millisecond), unavailable)
	if unavailable == 0 {
		t.Errorf("no 503 while the cluster had no leader: the failover was not exercised")
	}
	if !strings.Contains(logs.String(), "switching to the next") {
		t.Errorf("serve did not log its move off the dead node:\n%s", logs)
	}
	if strings.Contains(logs.String(), c.Token) || strings.Contains(logs.String(), spotterToken) {
		t.Errorf("the Vault token is in serve's log")
	}
}
