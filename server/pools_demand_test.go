package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/pool"
)

func TestPoolDemandAPI(t *testing.T) {
	for backend, open := range poolBackends() {
		t.Run(backend, func(t *testing.T) {
			ps := newPoolServer(t, open, handlers.DemandLimit{PerSecond: 1000, Burst: 1000})
			other := ps.create(t, "other")
			admin := adminCall
			demand := `{"pending": 3, "running": 1, "idle": 0}`
			stored := func(pending float64) func(t *testing.T, r reply) {
				return func(t *testing.T, r reply) {
					d, _ := r.body["demand"].(map[string]any)
					if r.body["pool"] != "p" || d["pending"] != pending || d["at"] == nil {
						t.Errorf("reply %s; want pool p's demand with pending %v and its time", r.raw, pending)
					}
					show := ps.call(t, http.MethodGet, "/v1/pools/p", "", poolAdmin)
					if show.body["pending"] != pending {
						t.Errorf("GET shows pending %v; want %v", show.body["pending"], pending)
					}
				}
			}
			const at = pool.MaxDemand
			tests := map[string]poolCase{
				"by the capability as Bearer": {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: "pool", status: 200,
					check: func(t *testing.T, r reply) {
						stored(3)(t, r)
						if r.body["desired"] != 4.0 || r.body["hold"] != nil {
							t.Errorf("desired %v hold %v; want 4 (1 running + 3 pending) acted on", r.body["desired"], r.body["hold"])
						}
					}},
				"by the admin token":                      {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: "admin", status: 200, check: stored(3)},
				"by the capability URL":                   {method: "POST", path: "/hooks/{cap}/demand", body: demand, status: 200, check: stored(3)},
				"at the limit":                            {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 1000000, "running": 1000000, "idle": 1000000}`, status: 200, check: func(t *testing.T, r reply) { stored(at)(t, r); wantDesired(t, r, 50) }},
				"past the limit":                          {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 1000001}`, status: 400, code: apperr.Invalid, details: "pending: 1000001"},
				"negative":                                {method: "POST", path: "/hooks/{cap}/demand", body: `{"idle": -1}`, status: 400, code: apperr.Invalid, details: "idle: -1"},
				"a key twice":                             {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 1, "pending": 900}`, status: 400, code: apperr.Invalid, details: "appears twice"},
				"a key in two cases":                      {method: "POST", path: "/v1/pools/p/demand", body: `{"pending": 1, "Pending": 900}`, bearer: "pool", status: 400, code: apperr.Invalid, details: "regardless of case"},
				"the sender's time":                       {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 1, "at": "2030-01-01T00:00:00Z"}`, status: 400, code: apperr.Invalid, details: `unknown field "at"`},
				"a fraction":                              {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 1.5}`, status: 400, code: apperr.Invalid, details: "pending"},
				"a string":                                {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": "3"}`, status: 400, code: apperr.Invalid, details: "pending"},
				"malformed":                               {method: "POST", path: "/hooks/{cap}/demand", body: `{"pending": 3`, status: 400, code: apperr.Invalid, details: "JSON"},
				"empty":                                   {method: "POST", path: "/hooks/{cap}/demand", body: ``, status: 400, code: apperr.Invalid, details: "empty"},
				"no credentials":                          {method: "POST", path: "/v1/pools/p/demand", body: demand, status: 401, code: apperr.Unauth, details: "Bearer"},
				"a garbage bearer":                        {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: "not-a-token", status: 401, code: apperr.TokenInvalid},
				"a garbage path token":                    {method: "POST", path: "/hooks/eyJhbGciOiJFZERTQSJ9.e30.AAAA/demand", body: demand, status: 401, code: apperr.TokenInvalid},
				"an oversized path token":                 {method: "POST", path: "/hooks/" + strings.Repeat("a", 5000) + "/demand", body: demand, status: 401, code: apperr.TokenInvalid},
				"a task token as Bearer":                  {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: ps.caps["plain"], status: 401, code: apperr.TokenInvalid},
				"a task token in the path":                {method: "POST", path: "/hooks/" + ps.caps["plain"] + "/demand", body: demand, status: 401, code: apperr.TokenInvalid},
				"a pool capability runs no task":          {method: "POST", path: "/hooks/{cap}", body: `{"task": "status"}`, status: 401, code: apperr.TokenInvalid},
				"a pool capability runs no task (Bearer)": {method: "POST", path: "/v1/tasks", body: `{"task": "status"}`, bearer: "pool", status: 401, code: apperr.TokenInvalid},
				"another pool's capability":               {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: other, status: 403, code: apperr.Forbidden, details: "pool other's"},
				"a revoked capability": {method: "POST", path: "/hooks/{cap}/demand", body: demand, status: 401, code: apperr.TokenRevoked, details: "revoked",
					before: admin("POST", "/v1/pools/p/revoke")},
				"a rotated-out capability": {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: "pool", status: 401, code: apperr.TokenRevoked, details: "replaced",
					before: admin("POST", "/v1/pools/p/rotate")},
				"a deleted pool's capability": {method: "POST", path: "/hooks/{cap}/demand", body: demand, status: 401, code: apperr.TokenRevoked,
					before: admin("DELETE", "/v1/pools/p")},
				"the admin token to a deleting pool": {method: "POST", path: "/v1/pools/p/demand", body: demand, bearer: "admin", status: 409, code: apperr.Conflict, details: "being deleted",
					before: admin("DELETE", "/v1/pools/p")},
				"the admin token to no pool": {method: "POST", path: "/v1/pools/nope/demand", body: demand, bearer: "admin", status: 404, code: apperr.NotFound},
				"a draining pool holds nothing back": {method: "POST", path: "/hooks/{cap}/demand", body: demand, status: 200, before: admin("POST", "/v1/pools/p/drain"),
					check: func(t *testing.T, r reply) { wantDesired(t, r, 0) }},
			}
			ps.runFresh(t, tests)
		})
	}
}

func wantDesired(t *testing.T, r reply, n float64) {
	t.Helper()
	if r.body["desired"] != n {
		t.Errorf("desired %v; want %v", r.body["desired"], n)
	}
}

// TestPoolDemandRateLimit: a pool takes Burst reports at once, then 429
// with Retry-After; refusals before authentication spend none of its
// budget, and other pools have their own.
func TestPoolDemandRateLimit(t *testing.T) {
	ps := newPoolServer(t, poolBackends()["embedded"], handlers.DemandLimit{PerSecond: 0.001, Burst: 3})
	p, q := ps.create(t, "p"), ps.create(t, "q")
	for range 5 {
		if r := ps.call(t, "POST", "/v1/pools/p/demand", `{"pending": 1}`, "not-a-token"); r.status != 401 {
			t.Fatalf("garbage token = %d", r.status)
		}
	}
	for i := range 3 {
		if r := ps.call(t, "POST", "/hooks/"+p+"/demand", `{"pending": 1}`, ""); r.status != 200 {
			t.Fatalf("report %d of the burst = %d %s", i+1, r.status, r.raw)
		}
	}
	r := ps.call(t, "POST", "/v1/pools/p/demand", `{"pending": 1}`, poolAdmin)
	if r.status != 429 || r.body["error"] != apperr.RateLimited || r.header.Get("Retry-After") != "1000" {
		t.Fatalf("report past the burst = %d %s, Retry-After %q; want 429 rate_limited, 1000", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if r := ps.call(t, "POST", "/hooks/"+q+"/demand", `{"pending": 1}`, ""); r.status != 200 {
		t.Fatalf("another pool = %d %s", r.status, r.raw)
	}
}

// TestPoolDemandRateLimitAcrossReplicas: two servers (replicas) on one
// store, on both stores, share each pool's budget: the burst spread over
// both passes, one report more is 429 on either, with Retry-After.
func TestPoolDemandRateLimitAcrossReplicas(t *testing.T) {
	for kind, open := range poolBackends() {
		t.Run(kind, func(t *testing.T) {
			ps := newPoolServer(t, open, handlers.DemandLimit{PerSecond: 0.001, Burst: 3})
			p := ps.create(t, "p")
			replicas := []*echo.Echo{ps.e, New(ps.deps, Options{})}
			call := func(r int, path, bearer string) reply {
				ps.e = replicas[r]
				defer func() { ps.e = replicas[0] }()
				return ps.call(t, "POST", path, `{"pending": 1}`, bearer)
			}
			for i, r := range []int{1, 0, 1} {
				if got := call(r, "/hooks/"+p+"/demand", ""); got.status != 200 {
					t.Fatalf("report %d of the burst, on replica %d = %d %s", i+1, r, got.status, got.raw)
				}
			}
			for r := range replicas {
				got := call(r, "/v1/pools/p/demand", poolAdmin)
				if got.status != 429 || got.body["error"] != apperr.RateLimited || got.header.Get("Retry-After") != "1000" {
					t.Fatalf("report past the burst on replica %d = %d %s, Retry-After %q; want 429 rate_limited, 1000", r, got.status, got.raw, got.header.Get("Retry-After"))
				}
			}
		})
	}
}
