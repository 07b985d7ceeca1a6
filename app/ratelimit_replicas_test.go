package app_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/e2e"
)

// TestDemandRateLimitAcrossReplicas: three serve processes on the Vault
// Raft cluster share a pool's demand budget (1 report a second, bursts of
// 10): 30 reports at once, 10 to each replica, pass the burst and what the
// seconds they took refilled, not the 30 that three budgets of their own
// would let through (as before, when each replica kept its own); every
// other is 429 with Retry-After.
func TestDemandRateLimitAcrossReplicas(t *testing.T) {
	s := startReplicas(t, 3, nil)
	_, tokID := s.tokenWithID(t, poolPolicy)
	r0 := s.rs[0]
	body := `{"name":"limited","tokenId":"` + tokID + `","region":"us-east-1","ami":"ami-0123456789abcdef0",` +
		`"launchConfigs":[{"instanceType":"c5.large","capacity":1}],"minCapacity":0,"maxCapacity":20,"maxLifetime":"2h"}`
	if code, _, raw := call(t, r0.Client, "POST", r0.URL+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != 201 {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	const n = 30
	codes := make([]string, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := s.rs[i%3]
			code, v, _, hdr := e2e.Call(t, r.Client, "POST", r.URL+"/v1/pools/limited/demand", testAdminToken, "application/json", []byte(`{"pending":1}`))
			codes[i] = fmt.Sprintf("%d %v %s", code, v["error"], hdr.Get("Retry-After"))
			if code == 200 {
				codes[i] = "200"
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	got := map[string]int{}
	for _, c := range codes {
		got[c]++
	}
	// What the limit let through is a 200, or a 409 when the pool's
	// record was being written by too many reports at once (the registry's
	// check-and-set gave up: "try again").
	refilled := int(took / time.Second)
	passed := got["200"] + got["409 conflict "]
	if passed < 10 || passed > 10+refilled || passed+got["429 rate_limited 1"] != n {
		t.Fatalf("replies %v in %s; want 10 (+%d refilled) past the limit and the rest 429 rate_limited with Retry-After 1", got, took, refilled)
	}
	t.Logf("replies %v in %s", got, took)
}
