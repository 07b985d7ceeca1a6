package app_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func ids(v map[string]any) []string {
	var out []string
	list, _ := v["instances"].([]any)
	for _, in := range list {
		out = append(out, in.(map[string]any)["id"].(string))
	}
	slices.Sort(out)
	return out
}

// TestTasksEndToEnd drives launches, retries, capacity exhaustion, throttling,
// terminate and status through HTTPS, a real store and the SDK.
func TestTasksEndToEnd(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startStack(t, backend)
			pol := `{"regions":["us-east-1"],"instanceTypes":["t3.micro","t3.small"],"amis":["ami-0123456789abcdef0"],"maxCount":3,"maxRunning":6,"maxTTL":"2h","tasks":["launch","terminate","status","price","cancel"]}`
			tok := s.createToken(t, `{"name":"e2e","credentials":`+keysJSON()+`,"policy":`+pol+`}`)
			url := tok["url"].(string)

			t.Run("wt-spotter body is a dry run", func(t *testing.T) {
				body := `{"construct":{"keys":{"region":"us-east-1","accessKeyId":"AKIAOLDSTYLEKEY00000","secretAccessKey":"old-style-secret-in-body-0000000000"},"upgrade":{"tokenCode":""}},
					"attributes":{"type":"t3.micro","price":"0.02","ami":"ami-0123456789abcdef0","isLogging":"true"}}`
				code, v, raw := s.task(t, url, body, nil)
				if code != 200 || v["dryRun"] != true || len(ids(v)) != 0 {
					t.Fatalf("seed body = %d %s; want a 200 dry run", code, raw)
				}
				if !strings.Contains(raw, "construct.keys credentials were ignored") || strings.Contains(raw, "old-style-secret") {
					t.Errorf("seed body reply = %s; want a warning about body keys and no echo", raw)
				}
				if s.liveInstances() != 0 {
					t.Errorf("dry run launched %d instances", s.liveInstances())
				}
			})

			var first []string
			t.Run("launch 3 over 2 types, retry with the same key", func(t *testing.T) {
				body := `{"task":"launch","instanceTypes":["t3.micro","t3.small"],"count":3,"ttl":"90m","tags":{"job":"e2e"}}`
				code, v, raw := s.task(t, url, body, map[string]string{"Idempotency-Key": "build-42"})
				if code != 200 || len(ids(v)) != 3 {
					t.Fatalf("launch = %d %s", code, raw)
				}
				first = ids(v)
				code, v, raw = s.task(t, url, body, map[string]string{"Idempotency-Key": "build-42"})
				if code != 200 || !slices.Equal(ids(v), first) || v["replayed"] != true {
					t.Fatalf("retry = %d %s; want the same 3 instances, replayed", code, raw)
				}
				if n := s.liveInstances(); n != 3 {
					t.Errorf("emulator runs %d instances after a retried launch of 3; want 3", n)
				}
			})

			t.Run("the AWS CLI sees exactly the tagged instances", func(t *testing.T) {
				aws, err := exec.LookPath("aws")
				if err != nil {
					t.Skip("aws CLI not installed (scripts/test.sh installs it)")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				simURL := strings.TrimSpace(simEndpoint(s))
				cmd := exec.CommandContext(ctx, aws, "--endpoint-url", simURL, "--region", "us-east-1", "--output", "json",
					"ec2", "describe-instances", "--filters", "Name=tag:spotter:token,Values="+tok["id"].(string),
					"Name=instance-state-name,Values=pending,running")
				cmd.Env = []string{"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=x", "AWS_CONFIG_FILE=/dev/null",
					"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME=" + t.TempDir(), "AWS_PAGER=", "PATH=/usr/bin:/bin"}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("aws ec2 describe-instances: %v\n%s", err, out)
				}
				var resp struct {
					Reservations []struct {
						Instances []struct {
							InstanceID string `json:"InstanceId"`
							Tags       []struct{ Key, Value string }
						}
					}
				}
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatal(err)
				}
				var seen []string
				for _, r := range resp.Reservations {
					for _, in := range r.Instances {
						seen = append(seen, in.InstanceID)
						tags := map[string]string{}
						for _, tg := range in.Tags {
							tags[tg.Key] = tg.Value
						}
						if tags["spotter:expires-at"] == "" || tags["spotter:request"] == "" || tags["job"] != "e2e" {
							t.Errorf("instance %s tags = %v; want spotter:expires-at, spotter:request, job", in.InstanceID, tags)
						}
					}
				}
				slices.Sort(seen)
				if !slices.Equal(seen, first) {
					t.Errorf("aws CLI sees %v; spotter launched %v", seen, first)
				}
			})

			t.Run("status reports the instances", func(t *testing.T) {
				code, v, raw := s.task(t, url, `{"task":"status"}`, nil)
				if code != 200 || !slices.Equal(ids(v), first) {
					t.Fatalf("status = %d %s", code, raw)
				}
			})

			t.Run("a spot interruption is reported", func(t *testing.T) {
				if err := s.sim.Interrupt(first[2]); err != nil {
					t.Fatal(err)
				}
				// The emulator's notice lasts 50 ms here (two minutes on AWS).
				time.Sleep(100 * time.Millisecond)
				code, v, raw := s.task(t, url, `{"task":"status"}`, nil)
				interrupted, _ := v["interrupted"].([]any)
				if code != 200 || len(interrupted) != 1 || interrupted[0] != first[2] {
					t.Fatalf("status after an interruption notice = %d %s; want %s reported", code, raw, first[2])
				}
			})

			t.Run("terminate of a foreign instance is refused by id", func(t *testing.T) {
				other := s.createToken(t, `{"name":"other","credentials":`+keysJSON()+`,"policy":`+pol+`}`)
				body := `{"task":"terminate","instanceIds":["` + first[0] + `","i-0000000000000dead"]}`
				code, v, raw := s.task(t, other["url"].(string), body, nil)
				refused, _ := v["refused"].([]any)
				if code != 200 || len(refused) != 2 || len(v["terminated"].([]any)) != 0 {
					t.Fatalf("foreign terminate = %d %s; want both ids refused", code, raw)
				}
				if n := s.liveInstances(); n != 2 {
					t.Errorf("a foreign terminate ended instances: %d live; want the 2 not interrupted", n)
				}
			})

			t.Run("throttled CreateFleet is retried without a duplicate", func(t *testing.T) {
				if err := s.sim.InjectFault("CreateFleet", "RequestLimitExceeded", 1, 1); err != nil {
					t.Fatal(err)
				}
				code, v, raw := s.task(t, url, `{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, map[string]string{"Idempotency-Key": "throttled"})
				if code != 200 || len(ids(v)) != 1 {
					t.Fatalf("launch under throttling = %d %s", code, raw)
				}
				if n := s.liveInstances(); n != 3 {
					t.Errorf("live instances = %d; want 3 (no duplicate from the retry)", n)
				}
			})

			t.Run("maxPrice under every pool: price_too_low, not a retryable 503", func(t *testing.T) {
				code, v, raw := s.task(t, url, `{"task":"launch","count":1,"maxPrice":0.0001}`, map[string]string{"Idempotency-Key": "too-cheap"})
				if code != 422 || v["error"] != "price_too_low" || !strings.Contains(v["details"].(string), "raise maxPrice") {
					t.Fatalf("launch under every pool's price = %d %s; want 422 price_too_low saying to raise maxPrice", code, raw)
				}
				if n := s.liveInstances(); n != 3 {
					t.Errorf("live instances = %d; want 3", n)
				}
			})

			t.Run("no spot capacity: capacity_unavailable, nothing launched", func(t *testing.T) {
				for _, typ := range []string{"t3.micro", "t3.small"} {
					if err := s.sim.SetCapacity("us-east-1", "", typ, false, 0); err != nil {
						t.Fatal(err)
					}
				}
				code, v, raw := s.task(t, url, `{"task":"launch","count":1}`, map[string]string{"Idempotency-Key": "no-capacity"})
				if code != 503 || v["error"] != "capacity_unavailable" || !strings.Contains(v["details"].(string), "t3.micro") {
					t.Fatalf("launch without capacity = %d %s; want 503 capacity_unavailable naming the pools", code, raw)
				}
				if n := s.liveInstances(); n != 3 {
					t.Errorf("live instances = %d; want 3", n)
				}
				fb := s.createToken(t, `{"name":"fallback","credentials":`+keysJSON()+`,"policy":`+strings.Replace(pol, `"maxCount":3`, `"maxCount":3,"onDemandFallback":true`, 1)+`}`)
				code, v, raw = s.task(t, fb["url"].(string), `{"task":"launch","count":1}`, map[string]string{"Idempotency-Key": "fallback"})
				list, _ := v["instances"].([]any)
				if code != 200 || len(list) != 1 || list[0].(map[string]any)["lifecycle"] != "on-demand" {
					t.Fatalf("launch with fallback = %d %s; want one on-demand instance", code, raw)
				}
			})

			t.Run("maxRunning counts live instances but not a retry's own", func(t *testing.T) {
				capped := s.createToken(t, `{"name":"capped","credentials":`+keysJSON()+`,"policy":`+strings.Replace(pol, `"maxCount":3,"maxRunning":6`, `"maxCount":2,"maxRunning":2`, 1)+`}`)
				for _, typ := range []string{"t3.micro", "t3.small"} {
					if err := s.sim.SetCapacity("us-east-1", "", typ, false, 100); err != nil {
						t.Fatal(err)
					}
				}
				body := `{"task":"launch","count":2}`
				for i, want := range []struct {
					key  string
					code int
				}{{"cap-a", 200}, {"cap-a", 200}, {"cap-b", 403}} {
					code, v, raw := s.task(t, capped["url"].(string), body, map[string]string{"Idempotency-Key": want.key})
					if code != want.code {
						t.Fatalf("launch %d (key %s) = %d %s; want %d", i, want.key, code, raw, want.code)
					}
					if code == 403 && !strings.Contains(v["details"].(string), "maxRunning") {
						t.Errorf("refusal does not name maxRunning: %s", raw)
					}
				}
			})

			t.Run("terminate all", func(t *testing.T) {
				code, v, raw := s.task(t, url, `{"task":"terminate","all":true}`, nil)
				if code != 200 || len(v["terminated"].([]any)) != 3 {
					t.Fatalf("terminate all = %d %s; want the 3 live ones terminated", code, raw)
				}
			})
		})
	}
}

// simEndpoint reads the emulator URL back from the serve environment the
// stack was started with.
func simEndpoint(s *stack) string { return s.simURL }
