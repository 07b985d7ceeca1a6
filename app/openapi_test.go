package app_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/server"
)

// TestOpenAPIExamples sends every example request in openapi.json to a live
// server and checks each is accepted with a documented success status.
func TestOpenAPIExamples(t *testing.T) {
	s := startHookStack(t, "embedded")
	tok := s.createToken(t, `{"name":"openapi","credentials":`+keysJSON()+`,"policy":`+policyJSON+`,"sources":`+hookSourcesJSON+`}`)

	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	type op struct {
		OperationID string `json:"operationId"`
		Security    []map[string]any
		RequestBody struct {
			Content map[string]struct {
				Example json.RawMessage `json:"example"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]any `json:"responses"`
	}
	n := 0
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var o op
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ctype := "application/json"
			ex := o.RequestBody.Content[ctype].Example
			if ex == nil {
				ctype = "application/x-www-form-urlencoded"
				ex = o.RequestBody.Content[ctype].Example
			}
			if ex == nil {
				continue
			}
			n++
			t.Run(o.OperationID, func(t *testing.T) {
				url := s.base + strings.NewReplacer("{id}", tok["id"].(string), "{token}", tok["token"].(string)).Replace(path)
				auth := ""
				for _, sec := range o.Security {
					if _, ok := sec["adminToken"]; ok {
						auth = testAdminToken
					}
					if _, ok := sec["capabilityToken"]; ok {
						auth = tok["token"].(string)
					}
				}
				body, hdr := signExample(t, s, o.OperationID, url, ctype, ex)
				if auth != "" {
					hdr["Authorization"] = "Bearer " + auth
				}
				code, _, reply := s.post(t, url, ctype, body, hdr)
				if code >= 300 {
					t.Fatalf("example %s %s = %d %s; want it accepted", method, path, code, reply)
				}
				if _, ok := o.Responses[itoa(code)]; !ok {
					t.Errorf("example %s %s answered %d, which the document does not list", method, path, code)
				}
			})
		}
	}
	if n < 4 {
		t.Errorf("only %d example requests in openapi.json", n)
	}
}

// signExample turns a documented example into the request a provider would
// send: form fields encoded, and signed with the token's source secrets, as
// Slack, Twilio, Mailgun and IFTTT do; other examples go as they are.
func signExample(t *testing.T, s *hookStack, operationID, target, ctype string, ex json.RawMessage) (string, map[string]string) {
	t.Helper()
	hdr := map[string]string{}
	if ctype == "application/json" {
		if operationID == "hookIFTTT" {
			hdr["X-Spotter-Ifttt-Secret"] = hookIFTTTSecret
		}
		return string(ex), hdr
	}
	var fields map[string]string
	if err := json.Unmarshal(ex, &fields); err != nil {
		t.Fatalf("%s: form example is not a flat object: %v", operationID, err)
	}
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	now := unix(time.Now())
	switch operationID {
	case "hookSlack":
		form.Set("response_url", s.respBase+"T1/1/example") // the allowlisted local receiver
		body := form.Encode()
		return body, slackSign(hookSlackSecret, now, body)
	case "hookTwilio":
		hdr["X-Twilio-Signature"] = twilioSign(hookTwilioToken, target, form)
	case "hookMailgun":
		form.Set("timestamp", now)
		form.Set("signature", mailgunSign(hookMailgunKey, now, form.Get("token")))
	}
	return form.Encode(), hdr
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
