package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentLaunchesKeepMaxRunning: launches of one token that arrive
// together (a CI fan-out) must not together pass maxRunning, although each
// lists the same running instances before it launches.
func TestConcurrentLaunchesKeepMaxRunning(t *testing.T) {
	s := startStack(t, "embedded")
	pol := `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":1,"maxRunning":3,"tasks":["launch","status"]}`
	tok := s.createToken(t, `{"name":"fan-out","credentials":`+keysJSON()+`,"policy":`+pol+`}`)
	url := tok["url"].(string)

	const n = 8
	codes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes[i] = postLaunch(s, url, fmt.Sprintf(`{"task":"launch","count":1,"idempotencyKey":"job-%d"}`, i))
		})
	}
	wg.Wait()
	got := map[string]int{}
	for _, c := range codes {
		got[c]++
	}
	if got["200"] != 3 || got["403 policy_denied"] != n-3 {
		t.Errorf("replies %v (in order %q); want 3 launched and %d refused by maxRunning", got, codes, n-3)
	}
	if live := s.liveInstances(); live != 3 {
		t.Errorf("emulator runs %d instances; want maxRunning, 3", live)
	}
}

// postLaunch is s.task for goroutines: it reports "<status>" or
// "<status> <error code>", or the transport error.
func postLaunch(s *stack, url, body string) string {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, v.Error))
}

// TestSpendCap: maxHourlySpend counts what the token runs; a launch the
// budget left cannot pay for, or its dry run, is refused by that rule and
// starts nothing.
func TestSpendCap(t *testing.T) {
	s := startStack(t, "embedded")
	probe := s.createToken(t, `{"name":"probe","credentials":`+keysJSON()+`,"policy":{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"]}}`)
	_, v, raw := s.task(t, probe["url"].(string), `{"task":"launch","dryRun":true}`, nil)
	pools, _ := v["pools"].([]any)
	if len(pools) == 0 {
		t.Fatalf("dry run = %s; want the pools with prices", raw)
	}
	cheapest := pools[0].(map[string]any)["price"].(float64)

	// Room for one instance at the cheapest price, not two.
	pol := fmt.Sprintf(`{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":1,"maxRunning":5,"maxHourlySpend":%g}`, cheapest*1.6)
	tok := s.createToken(t, `{"name":"budget","credentials":`+keysJSON()+`,"policy":`+pol+`}`)
	url := tok["url"].(string)
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantErr  string
		wantLive int
	}{
		{name: "first launch fits", body: `{"task":"launch","idempotencyKey":"a"}`, wantCode: 200, wantLive: 1},
		{name: "second does not", body: `{"task":"launch","idempotencyKey":"b"}`, wantCode: 403, wantErr: "policy_denied", wantLive: 1},
		{name: "nor its dry run", body: `{"task":"launch","dryRun":true}`, wantCode: 403, wantErr: "policy_denied", wantLive: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v, raw := s.task(t, url, tt.body, nil)
			if code != tt.wantCode || (tt.wantErr != "" && (v["error"] != tt.wantErr || !strings.Contains(raw, "maxHourlySpend"))) {
				t.Fatalf("%s = %d %s; want %d %s naming maxHourlySpend", tt.body, code, raw, tt.wantCode, tt.wantErr)
			}
			if live := s.liveInstances(); live != tt.wantLive {
				t.Errorf("emulator runs %d; want %d", live, tt.wantLive)
			}
		})
	}
}
