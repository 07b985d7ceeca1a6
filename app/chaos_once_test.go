package app_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/vaulttest"
)

// TestChaosOnceOnlyAcrossVaultFailover: one right TOTP code is sent 30
// times over three replicas, the sends spread over 3 s across the moment
// the Vault leader is SIGKILLed, each sent again after a 503 until it is
// answered: the code is accepted exactly once. A token revoked (and the
// revocation answered) just before the kill is refused on every replica
// once the new leader serves: what Vault acknowledged survives the failover.
func TestChaosOnceOnlyAcrossVaultFailover(t *testing.T) {
	const sends = 30
	c := vaulttest.ClusterToBreak(t)
	s := startReplicasOn(t, c, 3, nil)
	r0 := s.rs[0]
	code, v, raw := call(t, r0.Client, "POST", r0.URL+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"once-failover","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+hookPolicy+`}`))
	if code != 201 {
		t.Fatalf("create = %d %s", code, raw)
	}
	jwt := v["token"].(string)
	right := e2e.TOTPCode(t, v["totp"].(map[string]any)["secret"].(string))
	revoked, revokedID := s.tokenWithID(t, `{`+replicaPolicy+`}`)
	// Every replica has seen the token to be revoked (and cached its record).
	for i := range s.rs {
		if got, v := s.launch(i, revoked, `{"task":"status"}`); got != "200" {
			t.Fatalf("status on replica %d before the revocation = %s %v", i, got, v)
		}
	}

	got := make([]string, sends)
	at := make([]time.Time, sends)
	var wg sync.WaitGroup
	for i := range sends {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			for try := 0; ; try++ {
				r := s.rs[(i+try)%3]
				status, v, _, hdr := callHeader(t, r.Client, http.MethodPost, r.URL+"/hooks/"+jwt, "", "application/json",
					[]byte(`{"task":"status","mfaCode":"`+right+`"}`))
				if status == 503 && hdr.Get("Retry-After") != "" && try < 150 {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				got[i], at[i] = fmt.Sprintf("%d %v", status, v["error"]), time.Now()
				return
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if code, v, raw := call(t, r0.Client, "DELETE", r0.URL+"/v1/tokens/"+revokedID, testAdminToken, "", nil); code != 200 || v["status"] != "revoked" {
		t.Fatalf("revoke = %d %s", code, raw)
	}
	leader := c.Leader(t, 10*time.Second)
	killed := time.Now()
	c.Kill(t, leader)
	c.Leader(t, 30*time.Second)
	elected := time.Now()
	t.Logf("Vault node %d killed; a new leader %v later", leader+1, elected.Sub(killed).Round(time.Millisecond))
	wg.Wait()
	after := 0
	for _, a := range at {
		if a.After(elected) {
			after++
		}
	}
	if after == 0 {
		t.Fatalf("no send was answered after the new leader took over; the test did not cross the failover")
	}
	t.Logf("%d of %d sends answered after the new leader took over", after, sends)

	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	t.Logf("one TOTP code sent %d times across the failover: %v", sends, count)
	if count["200 <nil>"] != 1 {
		t.Errorf("the code was accepted %d times; want exactly once", count["200 <nil>"])
	}
	for g, n := range count {
		switch g {
		case "200 <nil>", "401 mfa_replayed", "429 mfa_locked", "409 conflict":
		default:
			t.Errorf("%d replies %q; want 200 once, else mfa_replayed or mfa_locked", n, g)
		}
	}
	// The replicas' token cache (2 s) has long expired: each reads the record anew.
	for i := range s.rs {
		if got, v := s.launch(i, revoked, `{"task":"status"}`); got != "401 token_revoked" {
			t.Errorf("the revoked token on replica %d after the failover = %s %v; want 401 token_revoked", i, got, v)
		}
	}
	c.Restart(t, leader)
}
