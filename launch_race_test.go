package main

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
