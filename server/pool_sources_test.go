package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/handlers"
	fakegh "github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources"
)

// Canaries: source secrets that must appear in no reply, log or store.
const (
	ghSecretCanary = "gh-webhook-secret-CANARY-7f3a"
	ghTokenCanary  = "ghp_TOKENCANARY0123456789abcdefABCDEF"
)

// sourcesServer is poolServer with CI sources, served on a real listener
// (the provider fakes deliver over HTTP) with a GitHub fake behind it.
type sourcesServer struct {
	*poolServer
	srv *httptest.Server
	gh  *fakegh.Server
	cap string // pool linux-ci's capability
	src *sources.Service
	// notified counts the reconciler wake-ups the sources asked for.
	notified atomic.Int32
}

func newSourcesServer(t *testing.T, backend string) *sourcesServer {
	t.Helper()
	ps := newPoolServer(t, poolBackends()[backend], handlers.DemandLimit{})
	reg := ps.deps.Pools
	ss := &sourcesServer{poolServer: ps, gh: fakegh.Start(t, ghTokenCanary)}
	src, err := sources.New(sources.Deps{Store: ps.st, Pools: reg, Logger: ps.deps.Logger, Notify: func(name string) {
		if name == "linux-ci" {
			ss.notified.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	d := ps.deps
	d.Sources = src
	ps.e = New(d, Options{})
	ss.srv, ss.src = httptest.NewServer(ps.e), src
	t.Cleanup(ss.srv.Close)
	ss.gh.AddRepo("octo/app")
	ss.cap = ps.create(t, "linux-ci")
	r := ps.call(t, "PATCH", "/v1/pools/linux-ci/sources", `{"github": {"webhookSecret": "`+ghSecretCanary+`",
		"apiUrl": "`+ss.gh.URL+`", "token": "`+ghTokenCanary+`", "repos": ["octo/app"]}}`, poolAdmin)
	if r.status != 200 {
		t.Fatalf("PATCH sources = %d %s", r.status, r.raw)
	}
	ss.gh.SetWebhook(ss.srv.URL+"/hooks/"+ss.cap+"/github", ghSecretCanary)
	ss.notified.Store(0) // the PATCH above asked for one
	return ss
}

// demand is the pool's stored demand (pending, running); -1s before any.
func (ss *sourcesServer) demand(t *testing.T) [2]int {
	t.Helper()
	d := ss.demand3(t)
	return [2]int{d[0], d[1]}
}

// demand3 is (pending, running, idle).
func (ss *sourcesServer) demand3(t *testing.T) [3]int {
	t.Helper()
	rec, err := ss.deps.Pools.Get(context.Background(), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Demand == nil {
		return [3]int{-1, -1, -1}
	}
	return [3]int{rec.Demand.Pending, rec.Demand.Running, rec.Demand.Idle}
}

// demandAt is the stored demand's time.
func (ss *sourcesServer) demandAt(t *testing.T) time.Time {
	t.Helper()
	rec, err := ss.deps.Pools.Get(context.Background(), "linux-ci")
	if err != nil || rec.Demand == nil {
		t.Fatalf("no demand: %v", err)
	}
	return rec.Demand.At
}

// poll runs one poll of pool linux-ci.
func (ss *sourcesServer) poll(t *testing.T) error {
	t.Helper()
	rec, err := ss.deps.Pools.Get(context.Background(), "linux-ci")
	if err != nil {
		t.Fatal(err)
	}
	return ss.src.Poll(context.Background(), rec)
}

// patch sets the pool's sources through the router.
func (ss *sourcesServer) patch(t *testing.T, body string) {
	t.Helper()
	if r := ss.call(t, "PATCH", "/v1/pools/linux-ci/sources", body, poolAdmin); r.status != 200 {
		t.Fatalf("PATCH sources %s = %d %s", body, r.status, r.raw)
	}
}

// storeText is everything the backend holds for pools and their sources.
func (ss *sourcesServer) storeText(t *testing.T) string {
	t.Helper()
	all := string(ss.raw(t))
	prefixes := []string{sources.ConfigPrefix, sources.TrackerPrefix, pools.Prefix}
	// The jobs' shards, pooljobs/<name>/<nn>, sit one folder down.
	shards, err := ss.st.Folders(context.Background(), sources.TrackerPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range append(prefixes, shards...) {
		keys, err := ss.st.List(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			r, err := ss.st.Get(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			all += string(r.Public) + string(r.Sealed)
		}
	}
	return all
}

func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range []string{"embedded", "vault"} {
		t.Run(b, func(t *testing.T) { f(t, b) })
	}
}

// TestSourceSecretsStayPut: the canary secrets of a pool's sources are in
// no reply, log line or stored byte, though the store holds the setting.
func TestSourceSecretsStayPut(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ss := newSourcesServer(t, backend)
		if _, err := ss.gh.QueueJob("octo/app", "build", "linux"); err != nil {
			t.Fatal(err)
		}
		var replies []string
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/pools/linux-ci/sources", ""},
			{"PATCH", "/v1/pools/linux-ci/sources", `{"github": {"repos": ["octo/app", "octo/lib"]}}`},
			{"PATCH", "/v1/pools/linux-ci/sources", `{"github": {"org": null}}`},
			{"GET", "/v1/pools/linux-ci", ""},
		} {
			r := ss.call(t, c.method, c.path, c.body, poolAdmin)
			if r.status != 200 {
				t.Fatalf("%s %s = %d %s", c.method, c.path, r.status, r.raw)
			}
			replies = append(replies, r.raw)
		}
		// Refused and accepted deliveries write log lines: none may carry
		// the capability in the URL either.
		body := []byte(`{"action": "queued"}`)
		for _, secret := range []string{"wrong-secret", ghSecretCanary} {
			if r := ss.deliver(t, "workflow_job", "canary-"+secret, secret, body); r.status < 400 {
				t.Fatalf("a body without a job = %d", r.status)
			}
		}
		var got map[string]any
		_ = json.Unmarshal([]byte(replies[1]), &got)
		gh := got["sources"].(map[string]any)["github"].(map[string]any)
		if gh["webhookSecretSet"] != true || gh["tokenSet"] != true || len(gh["repos"].([]any)) != 2 {
			t.Fatalf("PATCH kept the secrets? %s", replies[1])
		}
		store := ss.storeText(t)
		if !strings.Contains(ss.logs.String(), "signature_invalid") || !strings.Contains(ss.logs.String(), "/github") {
			t.Fatalf("the canary reads no log line of the refused deliveries:\n%s", ss.logs.String())
		}
		if !strings.Contains(store, "octo/lib") || !strings.Contains(store, "github:") {
			t.Fatalf("the canary reads nothing of the sources in the store")
		}
		places := map[string]string{"logs": ss.logs.String(), "store": store, "replies": strings.Join(replies, "\n")}
		for where, text := range places {
			for _, secret := range []string{ghSecretCanary, ghTokenCanary, ss.cap, sigOf(ss.cap)} {
				if strings.Contains(text, secret) {
					t.Errorf("%s holds a source secret %q", where, secret)
				}
			}
		}
	})
}

// TestPoolSourcesPatchRefusals: each malformed or misplaced PATCH gets a
// clear 4xx and leaves the stored sources as they were.
func TestPoolSourcesPatchRefusals(t *testing.T) {
	ss := newSourcesServer(t, "embedded")
	ss.create(t, "nolabels-src")
	if r := ss.call(t, "PATCH", "/v1/pools/nolabels-src", `{"labels": null}`, poolAdmin); r.status != 200 {
		t.Fatalf("dropping labels = %d %s", r.status, r.raw)
	}
	tests := map[string]struct {
		path, body, bearer string
		hdr                []string
		status             int
		code, details      string
	}{
		"unknown source":      {"/v1/pools/linux-ci/sources", `{"gitlab": {}}`, poolAdmin, nil, 400, "invalid_request", "sources: unknown source"},
		"repeated key":        {"/v1/pools/linux-ci/sources", `{"github": {"org": "a", "org": "b"}}`, poolAdmin, nil, 400, "invalid_request", `"org" appears twice`},
		"case-variant key":    {"/v1/pools/linux-ci/sources", `{"github": {"org": "a"}, "GitHub": null}`, poolAdmin, nil, 400, "invalid_request", `"GitHub" repeats "github"`},
		"bad field":           {"/v1/pools/linux-ci/sources", `{"taskcluster": {"rootUrl": "https://tc.example.com/", "taskQueueId": "p/w"}}`, poolAdmin, nil, 400, "invalid_request", "sources.taskcluster.rootUrl:"},
		"secret too long":     {"/v1/pools/linux-ci/sources", `{"github": {"webhookSecret": "` + strings.Repeat("s", sources.MaxSecretLen+1) + `"}}`, poolAdmin, nil, 400, "invalid_request", "sources.github.webhookSecret:"},
		"pool without labels": {"/v1/pools/nolabels-src/sources", `{"github": {"webhookSecret": "x"}}`, poolAdmin, nil, 400, "invalid_request", "has no labels"},
		"not JSON":            {"/v1/pools/linux-ci/sources", `github=x`, poolAdmin, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", "JSON"},
		"unknown pool":        {"/v1/pools/nope/sources", `{"github": null}`, poolAdmin, nil, 404, "not_found", "nope"},
		"pool capability":     {"/v1/pools/linux-ci/sources", `{"github": null}`, "cap", nil, 401, "unauthorized", ""},
	}
	before := ss.call(t, "GET", "/v1/pools/linux-ci/sources", "", poolAdmin).raw
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			bearer := tt.bearer
			if bearer == "cap" { // the pool's own capability is no admin token
				bearer = ss.cap
			}
			r := ss.call(t, "PATCH", tt.path, tt.body, bearer, tt.hdr...)
			if r.status != tt.status || r.body["error"] != tt.code || !strings.Contains(r.body["details"].(string), tt.details) {
				t.Fatalf("= %d %s; want %d %s %q", r.status, r.raw, tt.status, tt.code, tt.details)
			}
			if after := ss.call(t, "GET", "/v1/pools/linux-ci/sources", "", poolAdmin).raw; after != before {
				t.Fatalf("sources changed:\n%s\n%s", before, after)
			}
		})
	}
}
