package app_test

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
)

// floatNoise matches a number with more decimals than a micro-dollar has.
var floatNoise = regexp.MustCompile(`\d\.\d{7,}`)

// rulesPolicy allows up to 3 instances per request and 3 running.
const rulesPolicy = `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":3,"maxRunning":3,"maxTTL":"2h","tasks":["launch","terminate","status"]%s}`

// TestLaunchRulesEndToEnd checks, through a real serve and awssim, the
// count bounds (exactly at and past them), status narrowed by instanceIds,
// a maxRunning refusal counted as refused, and the dedupe window.
func TestLaunchRulesEndToEnd(t *testing.T) {
	s := startStack(t, "embedded")
	tok := s.createToken(t, `{"name":"rules","credentials":`+keysJSON()+`,"policy":`+fmt.Sprintf(rulesPolicy, "")+`}`)
	url := tok["url"].(string)

	counts := []struct {
		name     string
		body     string
		wantCode int
		wantErr  string
	}{
		{name: "count 0", body: `{"task":"launch","dryRun":true,"count":0}`, wantCode: 400, wantErr: "invalid_request"},
		{name: "count -1", body: `{"task":"launch","dryRun":true,"count":-1}`, wantCode: 400, wantErr: "invalid_request"},
		{name: "count 1", body: `{"task":"launch","dryRun":true,"count":1}`, wantCode: 200},
		{name: "count absent", body: `{"task":"launch","dryRun":true}`, wantCode: 200},
		{name: "count maxCount", body: `{"task":"launch","dryRun":true,"count":3}`, wantCode: 200},
		{name: "count maxCount+1", body: `{"task":"launch","dryRun":true,"count":4}`, wantCode: 403, wantErr: "policy_denied"},
		{name: "wt-spotter count 0", body: `{"attributes":{"task":"launch","count":0}}`, wantCode: 400, wantErr: "invalid_request"},
	}
	for _, tt := range counts {
		t.Run(tt.name, func(t *testing.T) {
			code, v, raw := s.task(t, url, tt.body, map[string]string{"Idempotency-Key": tt.name})
			if code != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
				t.Fatalf("POST %s = %d %s; want %d %q", tt.body, code, raw, tt.wantCode, tt.wantErr)
			}
			if code == 400 && !strings.Contains(v["details"].(string), "maxCount") {
				t.Errorf("details %q do not say what to send", v["details"])
			}
		})
	}
	if n := s.liveInstances(); n != 0 {
		t.Fatalf("%d instances launched by dry runs and refusals", n)
	}

	code, launched, raw := s.task(t, url, `{"task":"launch","count":3}`, map[string]string{"Idempotency-Key": "three"})
	if code != 200 {
		t.Fatalf("launch 3 = %d %s", code, raw)
	}
	// Three prices summed in float64 print as 0.008700000000000001.
	if m := floatNoise.FindString(raw); m != "" {
		t.Errorf("launch reply has float noise %q: %s", m, raw)
	}
	if code, v, raw := s.task(t, url, `{"task":"launch"}`, map[string]string{"Idempotency-Key": "fourth"}); code != 403 || v["error"] != "policy_denied" || !strings.Contains(raw, "maxRunning") {
		t.Fatalf("a fourth instance = %d %s; want 403 policy_denied by maxRunning", code, raw)
	}

	mine := launched["instances"].([]any)[0].(map[string]any)["id"].(string)
	const stranger = "i-0fedcba9876543210"
	code, st, raw := s.task(t, url, `{"task":"status","instanceIds":["`+mine+`","`+stranger+`"]}`, nil)
	if code != 200 {
		t.Fatalf("status by ids = %d %s", code, raw)
	}
	if code, _, raw := s.task(t, url, `{"task":"status"}`, nil); code != 200 || floatNoise.MatchString(raw) || !strings.Contains(raw, `"costSoFar":`) {
		t.Errorf("status = %d %s; want a total costSoFar and no float noise", code, raw)
	}
	if ins := st["instances"].([]any); len(ins) != 1 || ins[0].(map[string]any)["id"] != mine {
		t.Errorf("status of [%s %s] lists %v; want only %s", mine, stranger, ins, mine)
	}
	if ref, _ := st["refused"].([]any); len(ref) != 1 || ref[0].(map[string]any)["id"] != stranger {
		t.Errorf("status refused = %v; want %s listed", st["refused"], stranger)
	}

	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), `spotter_tasks_total{outcome="failed",task="launch"}`) {
		t.Errorf("a refused launch counted as failed:\n%s", grepLines(string(b), "spotter_tasks_total"))
	}
	if !strings.Contains(string(b), `spotter_tasks_total{outcome="refused",task="launch"} 2`) {
		t.Errorf("want 2 refused launches (maxCount+1 at the guard, maxRunning once EC2 was listed):\n%s", grepLines(string(b), "spotter_tasks_total"))
	}
}

// TestDedupeWindowEndToEnd: identical keyless launches are one launch
// within the policy's dedupeWindow (10m by default), and each is new with
// "0"; the replay says how to launch again.
func TestDedupeWindowEndToEnd(t *testing.T) {
	s := startStack(t, "embedded")
	tests := []struct {
		name       string
		window     string // the policy's dedupeWindow, "" for none
		wantCreate int
		wantSame   bool
	}{
		{name: "default", window: "", wantCreate: 201, wantSame: true},
		{name: "off", window: `"0"`, wantCreate: 201, wantSame: false},
		{name: "at the limit", window: `"24h"`, wantCreate: 201, wantSame: true},
		{name: "past the limit", window: `"24h1s"`, wantCreate: 400},
		{name: "negative", window: `"-1m"`, wantCreate: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := ""
			if tt.window != "" {
				extra = `,"dedupeWindow":` + tt.window
			}
			body := `{"name":"dedupe","credentials":` + keysJSON() + `,"policy":` + fmt.Sprintf(rulesPolicy, extra) + `}`
			code, tok, raw := call(t, s.client, "POST", s.base+"/v1/tokens", testAdminToken, "application/json", []byte(body))
			if code != tt.wantCreate {
				t.Fatalf("create with dedupeWindow %s = %d %s; want %d", tt.window, code, raw, tt.wantCreate)
			}
			if code != 201 {
				return
			}
			url := tok["url"].(string)
			_, first, raw1 := s.task(t, url, `{"task":"launch"}`, nil)
			_, second, raw2 := s.task(t, url, `{"task":"launch"}`, nil)
			id := func(v map[string]any) string { return v["instances"].([]any)[0].(map[string]any)["id"].(string) }
			if first["code"] != float64(200) || second["code"] != float64(200) {
				t.Fatalf("launches = %s / %s", raw1, raw2)
			}
			if same := id(first) == id(second); same != tt.wantSame {
				t.Fatalf("second keyless launch gave the same instance = %v; want %v\n%s\n%s", same, tt.wantSame, raw1, raw2)
			}
			if tt.wantSame && (second["replayed"] != true || !strings.Contains(raw2, "send a new Idempotency-Key")) {
				t.Errorf("replay reply does not say how to launch again: %s", raw2)
			}
			s.task(t, url, `{"task":"terminate","all":true}`, nil)
		})
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPolicyPatternsEndToEnd: a policy that lists only patterns launches
// and prices without naming types, a mixed one prices its patterns' types
// too, and the AMI's architecture still leaves out what it cannot boot.
func TestPolicyPatternsEndToEnd(t *testing.T) {
	s := startStack(t, "embedded")
	const pol = `{"regions":["us-east-1"],"instanceTypes":%s,"amis":["ami-0123456789abcdef0"],"maxCount":2,"tasks":["launch","price","terminate"]}`
	tests := []struct {
		name      string
		types     string
		task      string
		wantTypes []string // each must appear in the reply's types
		notTypes  []string // none may appear
		wantWarn  string
	}{
		{name: "patterns only, launch", types: `["t3.*"]`, task: `{"task":"launch","dryRun":true}`, wantTypes: []string{"t3.micro", "t3.small"}},
		{name: "patterns only, price", types: `["t3.*"]`, task: `{"task":"price"}`, wantTypes: []string{"t3.micro", "t3.large"}, notTypes: []string{"m5.large"}},
		{name: "mixed, price", types: `["c5.*","m5.large"]`, task: `{"task":"price"}`, wantTypes: []string{"c5.large", "c5.xlarge", "m5.large"}, notTypes: []string{"m5.xlarge"}},
		{name: "architecture check", types: `["t3.*","t4g.*"]`, task: `{"task":"launch","dryRun":true}`, wantTypes: []string{"t3.micro"}, notTypes: []string{"t4g.micro"}, wantWarn: "t4g.micro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := s.createToken(t, `{"name":"patterns","credentials":`+keysJSON()+`,"policy":`+fmt.Sprintf(pol, tt.types)+`}`)
			code, _, raw := s.task(t, tok["url"].(string), tt.task, map[string]string{"Idempotency-Key": tt.name})
			if code != 200 {
				t.Fatalf("%s with policy types %s = %d %s", tt.task, tt.types, code, raw)
			}
			for _, w := range tt.wantTypes {
				if !strings.Contains(raw, `"type":"`+w+`"`) {
					t.Errorf("reply lacks %s: %s", w, raw)
				}
			}
			for _, n := range tt.notTypes {
				if strings.Contains(raw, `"type":"`+n+`"`) {
					t.Errorf("reply offers %s, outside the policy or the AMI's architecture: %s", n, raw)
				}
			}
			if tt.wantWarn != "" && !strings.Contains(raw, tt.wantWarn+"") {
				t.Errorf("no warning names %s: %s", tt.wantWarn, raw)
			}
		})
	}
}
