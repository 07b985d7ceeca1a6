package server

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/handlers"
)

func TestPoolAdminAPI(t *testing.T) {
	for backend, open := range poolBackends() {
		t.Run(backend, func(t *testing.T) {
			ps := newPoolServer(t, open, handlers.DemandLimit{})
			issue := issuePool("linux-ci", ps.toks["plain"])
			with := func(old, new string) string { return strings.Replace(issue, old, new, 1) }
			// Each case runs on pool "p" made for it, so the order of cases
			// does not matter; creates use names of their own.
			tests := map[string]poolCase{
				"create: the issue's JSON": {method: "POST", path: "/v1/pools", body: issue, bearer: "admin", status: 201,
					check: func(t *testing.T, r reply) {
						url, _ := r.body["url"].(string)
						tok, _ := r.body["token"].(string)
						if tok == "" || url != "https://spotter.test/hooks/"+tok {
							t.Errorf("url %q, token %q; want https://spotter.test/hooks/<token>", url, tok)
						}
						for field, want := range map[string]any{"name": "linux-ci", "status": "active", "maxCapacity": 50.0, "idleTimeout": "10m0s",
							"staleDemandAfter": "2m0s", "desired": 0.0, "hold": "stale_demand", "epoch": 0.0} {
							if r.body[field] != want {
								t.Errorf("%s = %v; want %v", field, r.body[field], want)
							}
						}
						if inst, ok := r.body["instances"].([]any); !ok || len(inst) != 0 {
							t.Errorf("instances = %v; want []", r.body["instances"])
						}
					}},
				"create: without the admin token":        {method: "POST", path: "/v1/pools", body: with("linux-ci", "p2"), status: 401, code: apperr.Unauth, details: "admin token"},
				"create: with a pool capability":         {method: "POST", path: "/v1/pools", body: with("linux-ci", "p2"), bearer: "pool", status: 401, code: apperr.Unauth, details: "not accepted"},
				"create: malformed JSON":                 {method: "POST", path: "/v1/pools", body: `{"name": "p2",`, bearer: "admin", status: 400, code: apperr.Invalid, details: "JSON"},
				"create: a key twice":                    {method: "POST", path: "/v1/pools", body: with(`"minCapacity": 0`, `"minCapacity": 0, "minCapacity": 5`), bearer: "admin", status: 400, code: apperr.Invalid, details: `"minCapacity" appears twice`},
				"create: a key in two cases":             {method: "POST", path: "/v1/pools", body: with(`"maxCapacity": 50`, `"maxCapacity": 50, "MAXCAPACITY": 5`), bearer: "admin", status: 400, code: apperr.Invalid, details: "regardless of case"},
				"create: a key twice in a launch config": {method: "POST", path: "/v1/pools", body: with(`"capacity": 1}`, `"capacity": 1, "capacity": 9}`), bearer: "admin", status: 400, code: apperr.Invalid, details: "launchConfigs"},
				"create: unknown field":                  {method: "POST", path: "/v1/pools", body: with(`"maxCapacity"`, `"maxcap": 1, "maxCapacity"`), bearer: "admin", status: 400, code: apperr.Invalid, details: `unknown field "maxcap"`},
				"create: field error":                    {method: "POST", path: "/v1/pools", body: with(`"minCapacity": 0`, `"minCapacity": 51`), bearer: "admin", status: 400, code: apperr.Invalid, details: "minCapacity: must be 0 up to maxCapacity (50)"},
				"create: a duration as a number":         {method: "POST", path: "/v1/pools", body: with(`"10m"`, `600`), bearer: "admin", status: 400, code: apperr.Invalid},
				"create: an array":                       {method: "POST", path: "/v1/pools", body: `[` + issue + `]`, bearer: "admin", status: 400, code: apperr.Invalid, details: "JSON object"},
				"create: empty":                          {method: "POST", path: "/v1/pools", body: ``, bearer: "admin", status: 400, code: apperr.Invalid, details: "empty"},
				"create: not JSON":                       {method: "POST", path: "/v1/pools", body: issue, hdr: []string{"Content-Type", "text/plain"}, bearer: "admin", status: 415, code: apperr.Unsupported},
				"create: an MFA token":                   {method: "POST", path: "/v1/pools", body: with(ps.toks["plain"], ps.toks["totp"]), bearer: "admin", status: 400, code: apperr.Invalid, details: "needs a per-request MFA code"},
				"create: an unknown token":               {method: "POST", path: "/v1/pools", body: with(ps.toks["plain"], "tok_aaaaaaaaaaaaaaaaaaaa"), bearer: "admin", status: 400, code: apperr.Invalid, details: "tokenId: no token tok_aaaaaaaaaaaaaaaaaaaa"},
				"create: beyond the policy":              {method: "POST", path: "/v1/pools", body: with(`"us-east-1"`, `"eu-west-1"`), bearer: "admin", status: 400, code: apperr.Invalid, details: "region:"},
				"create: at maxRunning":                  {method: "POST", path: "/v1/pools", body: with(`"linux-ci"`, `"p-at"`), bearer: "admin", status: 201},
				"create: past maxRunning":                {method: "POST", path: "/v1/pools", body: with(`"maxCapacity": 50`, `"maxCapacity": 51`), bearer: "admin", status: 400, code: apperr.Invalid, details: "maxCapacity"},
				"create: a name taken":                   {method: "POST", path: "/v1/pools", body: with(`"linux-ci"`, `"p"`), bearer: "admin", status: 409, code: apperr.Conflict, details: "exists"},

				"list": {method: "GET", path: "/v1/pools", bearer: "admin", status: 200, check: func(t *testing.T, r reply) {
					list, _ := r.body["pools"].([]any)
					found := false
					for _, p := range list {
						m := p.(map[string]any)
						found = found || m["name"] == "p"
						if _, ok := m["token"]; ok {
							t.Errorf("a listed pool carries its token")
						}
					}
					if !found {
						t.Errorf("pool p not listed: %s", r.raw)
					}
				}},
				"list: without the admin token": {method: "GET", path: "/v1/pools", status: 401, code: apperr.Unauth},
				"show": {method: "GET", path: "/v1/pools/p", bearer: "admin", status: 200, check: func(t *testing.T, r reply) {
					for _, f := range []string{"desired", "running", "booting", "idle", "pending", "instances", "incarnation", "capability"} {
						if _, ok := r.body[f]; !ok {
							t.Errorf("no %q in %s", f, r.raw)
						}
					}
					if _, ok := r.body["token"]; ok {
						t.Errorf("show carries the token")
					}
				}},
				"show: unknown":    {method: "GET", path: "/v1/pools/nope", bearer: "admin", status: 404, code: apperr.NotFound, details: `no pool "nope"`},
				"show: a bad name": {method: "GET", path: "/v1/pools/NOPE..", bearer: "admin", status: 404, code: apperr.NotFound},

				"update: bounds": {method: "PATCH", path: "/v1/pools/p", body: `{"minCapacity": 2, "maxCapacity": 20}`, bearer: "admin", status: 200,
					check: func(t *testing.T, r reply) {
						if r.body["minCapacity"] != 2.0 || r.body["maxCapacity"] != 20.0 || r.body["idleTimeout"] != "10m0s" {
							t.Errorf("after patch: %s", r.raw)
						}
					}},
				"update: null restores a default": {method: "PATCH", path: "/v1/pools/p", body: `{"maxLifetime": null, "labels": null}`, bearer: "admin", status: 200,
					check: func(t *testing.T, r reply) {
						if r.body["maxLifetime"] != "12h0m0s" || r.body["labels"] != nil {
							t.Errorf("after patch: %s", r.raw)
						}
					}},
				"update: a key in another case": {method: "PATCH", path: "/v1/pools/p", body: `{"MaxCapacity": 30}`, bearer: "admin", status: 200,
					check: func(t *testing.T, r reply) {
						if r.body["maxCapacity"] != 30.0 {
							t.Errorf("after patch: %s", r.raw)
						}
					}},
				"update: rename":         {method: "PATCH", path: "/v1/pools/p", body: `{"name": "q"}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "cannot be renamed"},
				"update: unknown field":  {method: "PATCH", path: "/v1/pools/p", body: `{"maxcap": 3}`, bearer: "admin", status: 400, code: apperr.Invalid, details: `unknown field "maxcap"`},
				"update: a key twice":    {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": 3, "maxCapacity": 300}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "appears twice"},
				"update: two cases":      {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": 3, "MAXCAPACITY": 300}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "regardless of case"},
				"update: field error":    {method: "PATCH", path: "/v1/pools/p", body: `{"scalingRatio": 2}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "scalingRatio:"},
				"update: wrong type":     {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": "ten"}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "maxCapacity"},
				"update: onto MFA":       {method: "PATCH", path: "/v1/pools/p", body: `{"tokenId": "` + ps.toks["totp"] + `"}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "MFA"},
				"update: past policy":    {method: "PATCH", path: "/v1/pools/p", body: `{"launchConfigs": [{"instanceType": "m5.large"}]}`, bearer: "admin", status: 400, code: apperr.Invalid, details: "launchConfigs[0].instanceType"},
				"update: malformed":      {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": }`, bearer: "admin", status: 400, code: apperr.Invalid, details: "JSON"},
				"update: unknown pool":   {method: "PATCH", path: "/v1/pools/nope", body: `{"maxCapacity": 3}`, bearer: "admin", status: 404, code: apperr.NotFound},
				"update: no admin token": {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": 3}`, bearer: "pool", status: 401, code: apperr.Unauth},

				"drain": {method: "POST", path: "/v1/pools/p/drain", bearer: "admin", status: 200, check: func(t *testing.T, r reply) {
					if r.body["status"] != "draining" || r.body["draining"] != true || r.body["desired"] != 0.0 {
						t.Errorf("after drain: %s", r.raw)
					}
				}},
				"drain: unknown": {method: "POST", path: "/v1/pools/nope/drain", bearer: "admin", status: 404, code: apperr.NotFound},
				"delete": {method: "DELETE", path: "/v1/pools/p", bearer: "admin", status: 202, check: func(t *testing.T, r reply) {
					if r.body["status"] != "deleting" || r.body["deletedAt"] == nil {
						t.Errorf("after delete: %s", r.raw)
					}
				}},
				"rotate": {method: "POST", path: "/v1/pools/p/rotate", bearer: "admin", status: 200, check: func(t *testing.T, r reply) {
					tok, _ := r.body["token"].(string)
					if tok == "" || r.body["url"] != "https://spotter.test/hooks/"+tok || r.body["name"] != "p" {
						t.Errorf("rotate replied %s", r.raw)
					}
				}},
				"rotate: unknown":         {method: "POST", path: "/v1/pools/nope/rotate", bearer: "admin", status: 404, code: apperr.NotFound},
				"rotate: a deleting pool": {method: "POST", path: "/v1/pools/p/rotate", bearer: "admin", status: 409, code: apperr.Conflict, details: "being deleted", before: adminCall("DELETE", "/v1/pools/p")},
				"rotate: no admin token":  {method: "POST", path: "/v1/pools/p/rotate", bearer: "pool", status: 401, code: apperr.Unauth},
				"revoke": {method: "POST", path: "/v1/pools/p/revoke", bearer: "admin", status: 200, check: func(t *testing.T, r reply) {
					c, _ := r.body["capability"].(map[string]any)
					if c["revokedAt"] == nil || r.body["status"] != "active" {
						t.Errorf("revoke replied %s; want the capability revoked and the pool active", r.raw)
					}
				}},
				"revoke: unknown":       {method: "POST", path: "/v1/pools/nope/revoke", bearer: "admin", status: 404, code: apperr.NotFound},
				"drain: no admin token": {method: "POST", path: "/v1/pools/p/drain", status: 401, code: apperr.Unauth},
				"update: undrain": {method: "PATCH", path: "/v1/pools/p", body: `{"draining": false}`, bearer: "admin", status: 200, before: adminCall("POST", "/v1/pools/p/drain"),
					check: func(t *testing.T, r reply) {
						if r.body["status"] != "active" || r.body["draining"] != nil {
							t.Errorf("after undrain: %s", r.raw)
						}
					}},
				"update: a deleting pool":     {method: "PATCH", path: "/v1/pools/p", body: `{"maxCapacity": 3}`, bearer: "admin", status: 409, code: apperr.Conflict, details: "being deleted", before: adminCall("DELETE", "/v1/pools/p")},
				"create: over the body limit": {method: "POST", path: "/v1/pools", body: with(`"linux"]`, `"linux"], "userData": "`+strings.Repeat("A", 70000)+`"`), bearer: "admin", status: 413, code: apperr.TooLarge},
				"delete: unknown":             {method: "DELETE", path: "/v1/pools/nope", bearer: "admin", status: 404, code: apperr.NotFound},
				"delete: no admin token":      {method: "DELETE", path: "/v1/pools/p", bearer: "pool", status: 401, code: apperr.Unauth},
			}
			ps.create(t, "linux-ci-seed") // list and show see more than one pool
			ps.runFresh(t, tests)
		})
	}
}
