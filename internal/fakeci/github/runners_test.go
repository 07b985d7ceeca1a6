package github_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/fakeci/github"
)

// TestRunnerEndpoints: registration tokens, the runners listing by name
// and removal answer as the REST reference documents, per scope.
func TestRunnerEndpoints(t *testing.T) {
	s := github.Start(t, tok)
	s.AddRepo("octo-org/app")
	repo := s.URL + "/repos/octo-org/app/actions/runners"
	org := s.URL + "/orgs/octo-org/actions/runners"
	mint := func(base, name string) int64 {
		resp, body := call(t, "POST", base+"/generate-jitconfig", "Bearer "+tok, `{"name":"`+name+`","runner_group_id":1,"labels":["linux"]}`)
		if resp.StatusCode != 201 {
			t.Fatalf("mint %s: %d %s", name, resp.StatusCode, body)
		}
		var v struct {
			Runner struct {
				ID int64 `json:"id"`
			} `json:"runner"`
		}
		_ = json.Unmarshal(body, &v)
		return v.Runner.ID
	}
	appRunner, orgRunner := mint(repo, "i-1"), mint(org, "i-1") // one name, two scopes
	busy := mint(repo, "i-busy")
	s.SetRunnerBusy("repos/octo-org/app", "i-busy", true)
	tests := map[string]struct {
		method, url string
		auth        string // "-": none; "": the token
		want        int
		check       func(t *testing.T, body []byte)
	}{
		"registration token, repo": {method: "POST", url: repo + "/registration-token", want: 201, check: func(t *testing.T, body []byte) {
			var v struct {
				Token     string    `json:"token"`
				ExpiresAt time.Time `json:"expires_at"`
			}
			if json.Unmarshal(body, &v) != nil || len(v.Token) != 29 || time.Until(v.ExpiresAt) < 59*time.Minute {
				t.Errorf("reply %s", body)
			}
		}},
		"registration token, org":   {method: "POST", url: org + "/registration-token", want: 201},
		"no credentials":            {method: "POST", url: repo + "/registration-token", auth: "-", want: 401},
		"registration token, other": {method: "POST", url: s.URL + "/orgs/elsewhere/actions/runners/registration-token", want: 404},
		"list by name": {method: "GET", url: repo + "?name=i-1", want: 200, check: func(t *testing.T, body []byte) {
			var v struct {
				Total   int `json:"total_count"`
				Runners []struct {
					ID     int64  `json:"id"`
					Name   string `json:"name"`
					Status string `json:"status"`
					Busy   bool   `json:"busy"`
				} `json:"runners"`
			}
			if json.Unmarshal(body, &v) != nil || v.Total != 1 || v.Runners[0].ID != appRunner || v.Runners[0].Status != "offline" {
				t.Errorf("reply %s", body)
			}
		}},
		"list all": {method: "GET", url: repo, want: 200, check: func(t *testing.T, body []byte) {
			var v struct {
				Total int `json:"total_count"`
			}
			if json.Unmarshal(body, &v) != nil || v.Total != 2 {
				t.Errorf("reply %s", body)
			}
		}},
		"delete busy":      {method: "DELETE", url: repo + "/" + strconv.FormatInt(busy, 10), want: 422},
		"delete":           {method: "DELETE", url: repo + "/" + strconv.FormatInt(appRunner, 10), want: 204},
		"delete again":     {method: "DELETE", url: repo + "/" + strconv.FormatInt(appRunner, 10), want: 404},
		"delete wrong scp": {method: "DELETE", url: org + "/" + strconv.FormatInt(busy, 10), want: 404},
		"delete org":       {method: "DELETE", url: org + "/" + strconv.FormatInt(orgRunner, 10), want: 204},
	}
	// In this order: the deletes depend on the listing before them.
	order := []string{"registration token, repo", "registration token, org", "no credentials", "registration token, other", "list by name",
		"list all", "delete busy", "delete", "delete again", "delete wrong scp", "delete org"}
	if len(order) != len(tests) {
		t.Fatalf("%d cases ordered of %d", len(order), len(tests))
	}
	for _, name := range order {
		tt := tests[name]
		t.Run(name, func(t *testing.T) {
			auth := "Bearer " + tok
			if tt.auth == "-" {
				auth = ""
			}
			resp, body := call(t, tt.method, tt.url, auth, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d %s; want %d", tt.method, tt.url, resp.StatusCode, body, tt.want)
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
	if toks := s.RegistrationTokens(); len(toks) != 2 || toks[0].Scope != "repos/octo-org/app" || toks[1].Scope != "orgs/octo-org" {
		t.Errorf("recorded tokens %+v", toks)
	}
	if rs := s.Runners(); len(rs) != 1 || rs[0].Name != "i-busy" {
		t.Errorf("runners left %+v", rs)
	}
}

// TestFailRunnerCalls: the next runner calls fail with the statuses given,
// in order, then the endpoints answer again; a failed call registers nothing.
func TestFailRunnerCalls(t *testing.T) {
	s := github.Start(t, tok)
	s.AddRepo("octo-org/app")
	s.FailRunnerCalls(502, 503)
	url := s.URL + "/repos/octo-org/app/actions/runners/generate-jitconfig"
	for _, want := range []int{502, 503, 201} {
		resp, body := call(t, "POST", url, "Bearer "+tok, `{"name":"r1","runner_group_id":1,"labels":["x"]}`)
		if resp.StatusCode != want {
			t.Fatalf("status %d %s; want %d", resp.StatusCode, body, want)
		}
	}
	if rs := s.Runners(); len(rs) != 1 {
		t.Errorf("runners %+v; want the one the third call made", rs)
	}
}
