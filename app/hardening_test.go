package app_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileBodies sends through HTTPS to a real serve the bodies issue 10
// found accepted: repeated or case-variant keys, non-object bodies,
// unbounded prices and reserved tags in any case. Each is a 400 naming what
// to fix, and none launches anything or creates a token.
func TestHostileBodies(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startStack(t, backend)
			// No policy maxPrice: only the hard ceiling bounds a body's.
			open := `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":2}`
			tok := s.createToken(t, `{"name":"hostile","credentials":`+keysJSON()+`,"policy":`+open+`}`)
			url := tok["url"].(string)
			tokenCount := func() int {
				_, v, _ := call(t, s.client, "GET", s.base+"/v1/tokens", testAdminToken, "", nil)
				list, _ := v["tokens"].([]any)
				return len(list)
			}
			tokensBefore := tokenCount()

			launch := func(extra string) string {
				return `{"task":"launch","instanceTypes":["t3.micro"],"dryRun":false` + extra + `}`
			}
			tasks := map[string]struct {
				body, want string // want: a substring of details
			}{
				"case-variant dryRun":     {launch(`,"DRYRUN":true`), `"DRYRUN"`},
				"repeated count":          {launch(`,"count":1,"count":2`), `"count"`},
				"repeated tag":            {launch(`,"tags":{"team":"a","team":"b"}`), `"team"`},
				"wt-spotter case variant": {`{"attributes":{"type":"t3.micro","dryRun":"false","DryRun":"true"}}`, `"DryRun"`},
				"array body":              {`[` + launch("") + `]`, "JSON object"},
				"maxPrice Inf":            {launch(`,"maxPrice":"Inf"`), "maxPrice"},
				"maxPrice NaN":            {launch(`,"maxPrice":"NaN"`), "maxPrice"},
				"maxPrice 1e308":          {launch(`,"maxPrice":1e308`), "maxPrice"},
				"maxPrice negative":       {launch(`,"maxPrice":-1`), "maxPrice"},
				"maxPrice past ceiling":   {launch(`,"maxPrice":1000.01`), "maxPrice"},
				"tag Spotter:Token":       {launch(`,"tags":{"Spotter:Token":"someone-else"}`), "reserved prefix"},
				"tag AWS:x":               {launch(`,"tags":{"AWS:x":"1"}`), "reserved prefix"},
			}
			for name, tt := range tasks {
				t.Run("task/"+name, func(t *testing.T) {
					code, v, raw := s.task(t, url, tt.body, nil)
					if code != http.StatusBadRequest || v["error"] != "invalid_request" || !strings.Contains(v["details"].(string), tt.want) {
						t.Fatalf("POST %s = %d %s; want 400 invalid_request naming %s", tt.body, code, raw, tt.want)
					}
				})
			}
			creates := map[string]struct {
				body, want string
			}{
				"case-variant name":        {`{"name":"a","NAME":"b","credentials":` + keysJSON() + `,"policy":` + open + `}`, `"NAME"`},
				"nested policy key":        {`{"name":"a","credentials":` + keysJSON() + `,"policy":{"maxCount":1,"MaxCount":9,"tasks":["status"]}}`, `"MaxCount"`},
				"repeated policy tag":      {`{"name":"a","credentials":` + keysJSON() + `,"policy":{"tasks":["status"],"tags":{"k":"1","k":"2"}}}`, `"k"`},
				"policy tag SPOTTER:token": {`{"name":"a","credentials":` + keysJSON() + `,"policy":{"tasks":["status"],"tags":{"SPOTTER:token":"x"}}}`, "policy.tags"},
				"policy tag Aws:x":         {`{"name":"a","credentials":` + keysJSON() + `,"policy":{"tasks":["status"],"tags":{"Aws:x":"x"}}}`, "policy.tags"},
				"policy maxPrice 1e308":    {`{"name":"a","credentials":` + keysJSON() + `,"policy":{"tasks":["status"],"maxPrice":1e308}}`, "policy.maxPrice"},
				"array":                    {`[{"name":"a"}]`, "JSON object"},
			}
			for name, tt := range creates {
				t.Run("create/"+name, func(t *testing.T) {
					code, v, raw := call(t, s.client, "POST", s.base+"/v1/tokens", testAdminToken, "application/json", []byte(tt.body))
					if code != http.StatusBadRequest || v["error"] != "invalid_request" || !strings.Contains(v["details"].(string), tt.want) {
						t.Fatalf("create %s = %d %s; want 400 invalid_request naming %s", tt.body, code, raw, tt.want)
					}
				})
			}
			t.Run("rotate/case variant", func(t *testing.T) {
				code, v, raw := call(t, s.client, "POST", s.base+"/v1/tokens/"+tok["id"].(string)+"/rotate", testAdminToken,
					"application/json", []byte(`{"grace":"1h","Grace":"0s"}`))
				if code != http.StatusBadRequest || !strings.Contains(v["details"].(string), `"Grace"`) {
					t.Fatalf("rotate = %d %s; want 400 naming Grace", code, raw)
				}
			})
			if n := s.liveInstances(); n != 0 {
				t.Errorf("%d instances launched by hostile bodies", n)
			}
			if n := tokenCount(); n != tokensBefore {
				t.Errorf("tokens %d after hostile creates; want %d", n, tokensBefore)
			}

			// Case variants of a tag key are two AWS tags, and allowed.
			// (maxPrice within 10× t3.micro's on-demand $0.0104/h, now
			// that serve knows on-demand prices from the Price List API.)
			code, v, raw := s.task(t, url, `{"task":"launch","instanceTypes":["t3.micro"],"dryRun":true,"maxPrice":0.1,"tags":{"team":"a","Team":"b"}}`, nil)
			if code != http.StatusOK || v["dryRun"] != true {
				t.Fatalf("dry run with case-variant tags = %d %s; want 200", code, raw)
			}
			// HTTPS replies pin the host to HTTPS for at least a year.
			resp, err := s.client.Get(s.base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=63072000" {
				t.Errorf("Strict-Transport-Security = %q; want max-age=63072000", h)
			}
		})
	}
}
