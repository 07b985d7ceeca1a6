package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/server"
)

// TestOpenAPIExamples sends every example request in openapi.json to a live
// server and checks each is accepted with a documented success status.
func TestOpenAPIExamples(t *testing.T) {
	s := startStack(t, "embedded")
	tok := s.createToken(t, `{"name":"openapi","credentials":`+keysJSON()+`,"policy":`+policyJSON+`}`)

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
			ex := o.RequestBody.Content["application/json"].Example
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
				code, _, body := call(t, s.client, strings.ToUpper(method), url, auth, "application/json", ex)
				if code >= 300 {
					t.Fatalf("example %s %s = %d %s; want it accepted", method, path, code, body)
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

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
