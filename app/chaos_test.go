package app_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/spot"
)

// replyInstanceIDs are the ids a launch reply names, sorted.
func replyInstanceIDs(v map[string]any) []string {
	list, _ := v["instances"].([]any)
	var ids []string
	for _, in := range list {
		if m, ok := in.(map[string]any); ok {
			ids = append(ids, fmt.Sprint(m["id"]))
		}
	}
	slices.Sort(ids)
	return ids
}

// TestChaosRetriedLaunchesAcrossReplicas: 200 launches over three replicas,
// 30 % of them sent twice with the same idempotency key (half of those at
// once, racing on two replicas; half again after the first answered, on
// another replica) start exactly 200 instances, each tagged with its token,
// and every retry is answered with the first launch's instances. The
// token's maxRunning is exactly 200: the last launches fill it while
// retries race them, and a retry joins its launch's reservation, so none
// is refused. The
// token's maxRunning is exactly 200: the last launches fill it while
// retries race them, and a retry joins its launch's reservation, so none
// is refused.
func TestChaosRetriedLaunchesAcrossReplicas(t *testing.T) {
	const launches = 200
	s := startReplicas(t, 3, nil)
	tok, tokID := s.tokenWithID(t, fmt.Sprintf(`{`+replicaPolicy+`,"maxCount":1,"maxRunning":%d}`, launches))

	type reply struct {
		code string
		ids  []string
	}
	first := make([]reply, launches)
	retry := make([]reply, launches)
	retried := func(i int) bool { return i%10 < 3 }
	racing := func(i int) bool { return i%10 == 0 || i%20 == 1 } // 15 of every 30 retried
	sem := make(chan struct{}, 16)
	send := func(replica, i int) reply {
		sem <- struct{}{}
		defer func() { <-sem }()
		code, v := s.launch(replica, tok, fmt.Sprintf(`{"task":"launch","idempotencyKey":"chaos-%d"}`, i))
		return reply{code, replyInstanceIDs(v)}
	}
	var wg sync.WaitGroup
	for i := range launches {
		wg.Go(func() {
			if !retried(i) {
				first[i] = send(i, i)
				return
			}
			if racing(i) {
				var inner sync.WaitGroup
				inner.Go(func() { first[i] = send(i, i) })
				inner.Go(func() { retry[i] = send(i+1, i) })
				inner.Wait()
				return
			}
			first[i] = send(i, i)
			retry[i] = send(i+2, i)
		})
	}
	wg.Wait()

	seen := map[string]int{}
	var retries, raced, sameAsFirst int
	for i := range launches {
		if first[i].code != "200" || len(first[i].ids) != 1 {
			t.Fatalf("launch chaos-%d = %s %v; want 200 with one instance", i, first[i].code, first[i].ids)
		}
		seen[first[i].ids[0]]++
		if !retried(i) {
			continue
		}
		retries++
		if racing(i) {
			raced++
		}
		if retry[i].code != "200" {
			t.Errorf("the retry of chaos-%d = %s; want 200", i, retry[i].code)
		} else if slices.Equal(retry[i].ids, first[i].ids) {
			sameAsFirst++
		} else {
			t.Errorf("the retry of chaos-%d named %v; the first launch %v", i, retry[i].ids, first[i].ids)
		}
	}
	if len(seen) != launches {
		t.Errorf("%d distinct instances over %d keys; want one per key", len(seen), launches)
	}
	if retries != 60 || sameAsFirst != retries {
		t.Errorf("%d of %d retries answered with the first result; want all of 60", sameAsFirst, retries)
	}
	n := 0
	for _, r := range s.sim.State().Regions {
		for _, in := range r.Instances {
			n++
			tagged := false
			for _, tg := range in.Tags {
				tagged = tagged || tg.Key == spot.TagToken && tg.Value == tokID
			}
			if !tagged {
				t.Errorf("instance %s is not tagged %s=%s: %v", in.InstanceID, spot.TagToken, tokID, in.Tags)
			}
		}
	}
	if n != launches {
		t.Errorf("awssim holds %d instances; want %d (0 duplicates)", n, launches)
	}
	t.Logf("%d launches (%d retried, %d of them racing) on 3 replicas: %d instances, %d retries answered with the first result, %d 503s sent again",
		launches, retries, raced, n, sameAsFirst, s.busy.Load())
}

// tokenWithID creates a capability token on replica 0 and returns it (the
// JWT) and its id, which its instances' spotter:token tag carries.
func (s *replicas) tokenWithID(t *testing.T, policy string) (string, string) {
	t.Helper()
	r := s.rs[0]
	code, v, raw := call(t, r.Client, "POST", r.URL+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"chaos","credentials":`+keysJSON()+`,"policy":`+policy+`}`))
	if code != 201 {
		t.Fatalf("create token = %d %s", code, raw)
	}
	return v["token"].(string), v["id"].(string)
}

// TestChaosOneTOTPCodeAcrossReplicas: one right code sent 50 times at once
// over three replicas is accepted exactly once; every other use is refused
// as replayed, and once replays reach the MFA lockout as locked (a replay
// counts as a failed code), never accepted.
func TestChaosOneTOTPCodeAcrossReplicas(t *testing.T) {
	const sends = 50
	s := startReplicas(t, 3, nil)
	r0 := s.rs[0]
	code, v, raw := call(t, r0.Client, "POST", r0.URL+"/v1/tokens", testAdminToken, "application/json",
		[]byte(`{"name":"totp-chaos","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+hookPolicy+`}`))
	if code != 201 {
		t.Fatalf("create = %d %s", code, raw)
	}
	jwt := v["token"].(string)
	secret := v["totp"].(map[string]any)["secret"].(string)
	right := e2e.TOTPCode(t, secret)

	got := make([]string, sends)
	var wg sync.WaitGroup
	for i := range sends {
		wg.Go(func() {
			r := s.rs[i%3]
			status, v, _ := call(t, r.Client, http.MethodPost, r.URL+"/hooks/"+jwt, "", "application/json",
				[]byte(`{"task":"status","mfaCode":"`+right+`"}`))
			got[i] = strings.TrimSpace(fmt.Sprintf("%d %v", status, v["error"]))
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	t.Logf("one TOTP code sent %d times at once over 3 replicas: %v", sends, count)
	if count["200 <nil>"] != 1 {
		t.Errorf("accepted %d times; want exactly once", count["200 <nil>"])
	}
	for g, n := range count {
		switch g {
		case "200 <nil>", "401 mfa_replayed", "429 mfa_locked", "409 conflict":
		default:
			t.Errorf("%d replies %q; want only 200 once, then 401 mfa_replayed or 429 mfa_locked (or 409 conflict)", n, g)
		}
	}
}
