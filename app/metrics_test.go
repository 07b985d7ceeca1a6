package app_test

import (
	"io"
	"strings"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	s := startStack(t, "embedded")
	tok := s.createToken(t, `{"name":"metrics","credentials":`+keysJSON()+`,"policy":`+policyJSON+`}`)
	if code, _, raw := s.task(t, tok["url"].(string), `{"task":"launch","instanceTypes":["t3.micro"]}`, map[string]string{"Idempotency-Key": "m1"}); code != 200 {
		t.Fatalf("launch = %d %s", code, raw)
	}
	if code, _, raw := s.task(t, tok["url"].(string), `{"task":"status"}`, nil); code != 200 {
		t.Fatalf("status = %d %s", code, raw)
	}
	s.task(t, tok["url"].(string), `{"task":"launch","instanceTypes":["p3.2xlarge"]}`, nil)

	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`spotter_tasks_total{outcome="ok",task="launch"} 1`,
		`spotter_tasks_total{outcome="ok",task="status"} 1`,
		`spotter_tasks_total{outcome="refused",task="launch"} 1`,
		`spotter_instances_launched_total{lifecycle="spot"} 1`,
		`spotter_http_requests_total{method="POST",route="/hooks/:token",status="200"} 2`,
		`spotter_http_requests_total{method="POST",route="/hooks/:token",status="403"} 1`,
		`spotter_aws_call_duration_seconds_count{service="ec2",status="200"}`,
		`spotter_store_call_duration_seconds_count{op="open",result="ok"}`,
		`spotter_running_instances{token="` + tok["id"].(string) + `"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, tok["token"].(string)) {
		t.Error("/metrics holds a capability token")
	}
}
