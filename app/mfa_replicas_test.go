package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/token"
)

// TestMFALockoutAcrossReplicas runs two `spotter serve` processes on one
// Vault, as a load balancer would see them, and guesses a token's code on
// both at once: exactly MaxMFAFailures guesses are checked, every other one
// is refused locked, on either replica; the right code then is refused on
// both, and accepted after an unlock on the other one.
func TestMFALockoutAcrossReplicas(t *testing.T) {
	srv := vaulttest.Shared(t)
	names := deploy.DefaultVaultNames()
	names.KVMount = vaulttest.Unique("mfa-replicas")
	sim := awssim.New(awssim.Options{Seed: 7})
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	env := map[string]string{
		"SPOTTER_ADMIN_TOKEN": testAdminToken, "AWS_ENDPOINT_URL_EC2": simSrv.URL, "AWS_ENDPOINT_URL_STS": simSrv.URL, "AWS_ENDPOINT_URL_PRICING": simSrv.URL,
		"VAULT_ADDR": srv.Addr, "VAULT_TOKEN": srv.SpotterToken(t, names), "SPOTTER_VAULT_MOUNT": names.KVMount,
	}
	type replica struct {
		base   string
		client *http.Client
		logs   *syncBuffer
	}
	var reps []replica
	for range 2 {
		dir := dataDir(t)
		base, logs, _ := startServe(t, env, "--addr", "127.0.0.1:0", "--data-dir", dir)
		reps = append(reps, replica{base: base, client: clientFor(t, base, dir), logs: logs})
	}
	code, tok, raw := call(t, reps[0].client, "POST", reps[0].base+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"replicas","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+hookPolicy+`}`))
	if code != 201 {
		t.Fatalf("create = %d %s", code, raw)
	}
	jwt, id := tok["token"].(string), tok["id"].(string)
	secret := tok["totp"].(map[string]any)["secret"].(string)
	post := func(r replica, code string) (int, string, string) {
		req, _ := http.NewRequest("POST", r.base+"/hooks/"+jwt, strings.NewReader(`{"task":"status","mfaCode":"`+code+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		var v struct {
			Error   string `json:"error"`
			Details string `json:"details"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, resp.Header.Get("Retry-After"), v.Error + ": " + v.Details
	}

	const guesses = 24
	wrong := e2e.WrongTOTPCodes(t, secret, guesses)
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			status, ra, body := post(reps[i%2], wrong[i])
			key := body[:strings.Index(body, ":")]
			switch {
			case status == 401 && key == "mfa_invalid":
			case status == 429 && key == "mfa_locked" && ra != "":
				if strings.Contains(body, "not accepted either") {
					key = "mfa_locked by this guess"
				}
			case status == 409 && key == "conflict": // a lost race, refused unchecked
			default:
				t.Errorf("guess %d on replica %d = %d %q (Retry-After %q)", i, i%2+1, status, body, ra)
			}
			mu.Lock()
			got[key]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d concurrent wrong guesses on 2 replicas: %v", guesses, got)
	if checked := got["mfa_invalid"] + got["mfa_locked by this guess"]; checked != token.MaxMFAFailures || got["mfa_locked by this guess"] != 1 {
		t.Fatalf("%d concurrent wrong guesses on 2 replicas: %v; want exactly %d checked, the last of them locking", guesses, got, token.MaxMFAFailures)
	}

	right := e2e.TOTPCode(t, secret)
	for i, r := range reps {
		if status, ra, body := post(r, right); status != 429 || ra == "" {
			t.Fatalf("the right code on replica %d while locked = %d %s (Retry-After %q); want 429 mfa_locked", i+1, status, body, ra)
		}
	}
	if code, v, raw := call(t, reps[0].client, "POST", reps[0].base+"/v1/tokens/"+id+"/unlock", testAdminToken, "", nil); code != 200 || v["wasLocked"] != true {
		t.Fatalf("unlock on replica 1 = %d %s", code, raw)
	}
	if status, _, body := post(reps[1], right); status != 200 {
		t.Fatalf("the same right code on replica 2 after the unlock = %d %s; want 200 (never spent)", status, body)
	}
	time.Sleep(10 * time.Millisecond) // let the last log lines land
	locks := 0
	for _, r := range reps {
		locks += strings.Count(r.logs.String(), "capability token MFA locked")
		if strings.Contains(r.logs.String(), secret) {
			t.Error("the TOTP secret reached a replica's log")
		}
	}
	if locks != 1 {
		t.Errorf("%d lockout audit events across the replicas; want 1", locks)
	}
}
