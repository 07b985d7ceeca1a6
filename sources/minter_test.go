package sources

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	ghfake "github.com/spotter-dev/spotter/internal/fakeci/github"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/sources/github"
	"github.com/spotter-dev/spotter/token"
)

const (
	ghToken    = "ghp_CANARYminterToken000000000000000000"
	instanceID = "i-0123456789abcdef0"
)

// syncBuffer is a log sink tests read while handlers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// minterFixture is a Service over an embedded store with one
// github-runner pool whose GitHub source points at a fake GitHub.
type minterFixture struct {
	s    *Service
	m    *Minter
	gh   *ghfake.Server
	reg  *pools.Registry
	dir  string
	logs *syncBuffer
	p    pool.Pool
}

func newMinterFixture(t *testing.T, github string) *minterFixture {
	t.Helper()
	ctx := context.Background()
	f := &minterFixture{logs: &syncBuffer{}, dir: t.TempDir()}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := secrets.OpenEmbedded(f.dir, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		t.Fatal(err)
	}
	caps, err := capability.New(capability.Config{Store: st, Authority: auth})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := caps.Create(ctx, api.CreateTokenRequest{Name: "ci", Policy: &api.Policy{Regions: []string{"us-east-1"},
		InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"}, MaxCount: 10, MaxRunning: 50, MaxTTL: api.Duration(12 * time.Hour), AllowUserData: true},
		Credentials: &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.reg, err = pools.New(pools.Config{Store: st, Authority: auth, Tokens: caps}); err != nil {
		t.Fatal(err)
	}
	f.p = pool.Pool{Name: "ci", TokenID: tok.ID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}}, MaxCapacity: 10,
		Bootstrap: pool.BootstrapGitHubRunner, TerminateAfterJob: true, Labels: []string{"self-hosted", "linux"}}
	if _, err := f.reg.Create(ctx, f.p); err != nil {
		t.Fatal(err)
	}
	if f.s, err = New(Deps{Store: st, Pools: f.reg, Logger: log}); err != nil {
		t.Fatal(err)
	}
	f.gh = ghfake.Start(t, ghToken)
	f.gh.AddRepo("octo/app")
	f.gh.AddRepo("octo/lib")
	if strings.Contains(github, "$APP") {
		// A GitHub App instead of the token: the fake knows its public key.
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		f.gh.SetApp(42, &key.PublicKey, 7)
		pemKey, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})))
		github = strings.ReplaceAll(github, "$APP", `"appId": 42, "installationId": 7, "privateKey": `+string(pemKey))
	}
	if github != "" {
		github = strings.ReplaceAll(github, "$API", f.gh.URL)
		if _, err := f.s.Patch(ctx, "ci", map[string]json.RawMessage{"github": json.RawMessage(github)}); err != nil {
			t.Fatal(err)
		}
	}
	f.m = f.s.NewMinter()
	return f
}

// secretFree fails if v is in the logs or the raw store file.
func (f *minterFixture) secretFree(t *testing.T, v string) {
	t.Helper()
	if v == "" {
		return
	}
	if strings.Contains(f.logs.String(), v) {
		t.Errorf("a minted secret is in the logs")
	}
	files, _ := filepath.Glob(filepath.Join(f.dir, "*"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && bytes.Contains(b, []byte(v)) {
			t.Errorf("a minted secret is in the store file %s", filepath.Base(name))
		}
	}
}

const repoSource = `{"webhookSecret": "whsec", "token": "` + ghToken + `", "apiUrl": "$API", "repos": ["octo/app"]`

// TestMint: each registration mode, and each way GitHub can fail, as the
// hand-off sees it: what the instance gets, what GitHub registered, and
// whether a retry of the same hand-off then succeeds.
func TestMint(t *testing.T) {
	ctx := context.Background()
	tests := map[string]mintCase{
		"jit on a repository": {github: repoSource + `}`, wantKeys: []string{"jit-config"},
			check: func(t *testing.T, f *minterFixture, got map[string]string) {
				rs := f.gh.Runners()
				if len(rs) != 1 || rs[0].Scope != "repos/octo/app" || rs[0].Name != instanceID || strings.Join(rs[0].Labels, ",") != "self-hosted,linux" ||
					rs[0].RunnerGroupID != DefaultRunnerGroup || rs[0].WorkFolder != "" {
					t.Errorf("GitHub registered %+v", rs)
				}
				if reqs := f.gh.JITRequests(); len(reqs) != 1 || reqs[0].Encoded != got["jit-config"] {
					t.Errorf("the config handed out is not the one GitHub minted")
				}
			}},
		"jit on an org with a group and work folder": {github: `{"webhookSecret": "whsec", "token": "` + ghToken + `", "apiUrl": "$API", "org": "octo", "runnerGroupId": 7, "workFolder": "jobs/_w"}`,
			wantKeys: []string{"jit-config"},
			check: func(t *testing.T, f *minterFixture, _ map[string]string) {
				rs := f.gh.Runners()
				if len(rs) != 1 || rs[0].Scope != "orgs/octo" || rs[0].Name != instanceID || rs[0].RunnerGroupID != 7 || rs[0].WorkFolder != "jobs/_w" {
					t.Errorf("GitHub registered %+v", rs)
				}
			}},
		"jit with a GitHub App": {github: `{"webhookSecret": "whsec", $APP, "apiUrl": "$API", "repos": ["octo/app"]}`, wantKeys: []string{"jit-config"},
			check: func(t *testing.T, f *minterFixture, _ map[string]string) {
				if rs := f.gh.Runners(); len(rs) != 1 || rs[0].Name != instanceID {
					t.Errorf("GitHub registered %+v", rs)
				}
			}},
		"jit, 3 job slots": {github: repoSource + `}`, agents: 3, wantKeys: []string{"jit-config", "jit-config-2", "jit-config-3"},
			check: func(t *testing.T, f *minterFixture, got map[string]string) {
				names := []string{}
				for _, r := range f.gh.Runners() {
					names = append(names, r.Name)
				}
				if strings.Join(names, ",") != instanceID+","+instanceID+"-2,"+instanceID+"-3" {
					t.Errorf("GitHub registered %v", names)
				}
				if reqs := f.gh.JITRequests(); len(reqs) != 3 || reqs[1].Encoded != got["jit-config-2"] {
					t.Errorf("the configs handed out are not GitHub's, slot by slot")
				}
			}},
		"jit, 3 job slots, GitHub fails on the second": {github: repoSource + `}`, agents: 3,
			before: func(f *minterFixture) { f.gh.FailRunnerCalls(0, 502) }, wantCode: apperr.Unavailable, wantIn: "HTTP 502", retry: true,
			check: func(t *testing.T, f *minterFixture, _ map[string]string) {
				if rs := f.gh.Runners(); len(rs) != 1 || rs[0].Name != instanceID {
					t.Errorf("GitHub registered %+v; want the first slot's runner only", rs)
				}
			}},
		"registration token": {github: repoSource + `, "runnerRegistration": "registration-token"}`, wantKeys: []string{"runner-token", "runner-url"},
			check: func(t *testing.T, f *minterFixture, got map[string]string) {
				toks := f.gh.RegistrationTokens()
				if len(toks) != 1 || toks[0].Token != got["runner-token"] || toks[0].Scope != "repos/octo/app" {
					t.Errorf("issued %+v; handed out a different token", toks)
				}
				if got["runner-url"] != f.gh.URL+"/octo/app" {
					t.Errorf("runner-url = %q", got["runner-url"])
				}
				if len(f.gh.Runners()) != 0 {
					t.Error("a registration token registered a runner")
				}
			}},
		"pool secrets: nothing minted": {github: repoSource + `, "runnerRegistration": "pool-secrets"}`,
			wantCalls: func(b, a int) bool { return a == b }},
		"webhook only: nothing minted": {github: `{"webhookSecret": "whsec"}`, wantCalls: func(b, a int) bool { return a == b }},
		"another template: nothing minted": {github: repoSource + `}`, bootstrap: pool.BootstrapBuildkite,
			wantCalls: func(b, a int) bool { return a == b }},
		"no labels": {github: repoSource + `}`, noLabels: true, wantCode: apperr.Unavailable, wantIn: "no labels",
			wantCalls: func(b, a int) bool { return a == b }},
		"GitHub 502": {github: repoSource + `}`, before: func(f *minterFixture) { f.gh.FailRunnerCalls(502) },
			wantCode: apperr.Unavailable, wantIn: "HTTP 502", retry: true},
		"GitHub 403: permissions": {github: repoSource + `}`, before: func(f *minterFixture) { f.gh.FailRunnerCalls(403) },
			wantCode: apperr.Unavailable, wantIn: "Administration write", retry: true},
		"primary rate limit": {github: repoSource + `}`,
			before:   func(f *minterFixture) { f.gh.SetRateLimit(5000, 0, time.Now().Add(40*time.Minute)) },
			wantCode: apperr.RateLimited, wantIn: "rate-limits pool ci"},
		"secondary rate limit": {github: repoSource + `}`, before: func(f *minterFixture) { f.gh.SetSecondaryLimit(1, 30*time.Second) },
			wantCode: apperr.RateLimited, wantIn: "rate-limits pool ci"},
		"409: an interrupted hand-off's runner is replaced": {github: repoSource + `}`, wantKeys: []string{"jit-config"},
			before: func(f *minterFixture) {
				if _, err := f.m.Mint(ctx, f.p, instanceID, 1); err != nil {
					panic(err)
				}
			},
			check: func(t *testing.T, f *minterFixture, got map[string]string) {
				reqs, rs := f.gh.JITRequests(), f.gh.Runners()
				if len(reqs) != 2 || len(rs) != 1 || rs[0].ID != reqs[1].RunnerID || reqs[1].Encoded != got["jit-config"] {
					t.Errorf("want the first runner removed and the second handed out: minted %d, registered %+v", len(reqs), rs)
				}
			}},
		"409: a runner running a job is left alone": {github: repoSource + `}`, wantCode: apperr.Conflict, wantIn: "running a job",
			before: func(f *minterFixture) {
				if _, err := f.m.Mint(ctx, f.p, instanceID, 1); err != nil {
					panic(err)
				}
				f.gh.SetRunnerBusy("repos/octo/app", instanceID, true)
			},
			check: func(t *testing.T, f *minterFixture, _ map[string]string) {
				if rs := f.gh.Runners(); len(rs) != 1 || !rs[0].Busy {
					t.Errorf("the busy runner was touched: %+v", rs)
				}
			}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) { tt.run(t) })
	}
}

// mintCase is one hand-off's mint against the fake GitHub.
type mintCase struct {
	github    string
	agents    int                  // the instance's job slots; 0 is taken as 1
	bootstrap string               // the pool's template; default github-runner
	noLabels  bool                 // mint for the pool with its labels cleared
	before    func(*minterFixture) // GitHub's state before the hand-off
	wantCode  string               // the error's apperr code; "" success
	wantIn    string               // in the error's details
	wantKeys  []string             // the secrets minted
	check     func(*testing.T, *minterFixture, map[string]string)
	retry     bool // a second Mint of the same instance succeeds
	wantCalls func(before, after int) bool
}

func (tt mintCase) run(t *testing.T) {
	ctx := context.Background()
	f := newMinterFixture(t, tt.github)
	p := f.p
	if tt.bootstrap != "" {
		p.Bootstrap = tt.bootstrap
	}
	if tt.noLabels {
		p.Labels = nil
	}
	if tt.before != nil {
		tt.before(f)
	}
	calls := f.gh.Calls()
	got, err := f.m.Mint(ctx, p, instanceID, tt.agents)
	if apperr.Code(err) != tt.wantCode {
		t.Fatalf("Mint = %v; want code %q", err, tt.wantCode)
	}
	if err != nil {
		var ae *apperr.Error
		if !errorsAs(err, &ae) || !strings.Contains(ae.Details, tt.wantIn) || strings.Contains(ae.Details, ghToken) {
			t.Errorf("details %q; want %q in them and no token", ae.Details, tt.wantIn)
		}
	}
	if len(got) != len(tt.wantKeys) {
		t.Errorf("minted %d secrets; want %v", len(got), tt.wantKeys)
	}
	for _, k := range tt.wantKeys {
		if got[k] == "" {
			t.Errorf("no %s minted", k)
		}
	}
	if tt.check != nil {
		tt.check(t, f, got)
	}
	if tt.wantCalls != nil && !tt.wantCalls(calls, f.gh.Calls()) {
		t.Errorf("GitHub calls %d → %d", calls, f.gh.Calls())
	}
	if tt.retry {
		again, err := f.m.Mint(ctx, p, instanceID, tt.agents)
		if err != nil || again["jit-config"] == "" || len(again) != max(1, tt.agents) || len(f.gh.Runners()) != max(1, tt.agents) {
			t.Fatalf("the retried hand-off: %v (%d configs, %d runners)", err, len(again), len(f.gh.Runners()))
		}
		f.secretFree(t, again["jit-config"])
	}
	for _, v := range got {
		if strings.HasPrefix(v, "http") {
			continue // runner-url is no secret
		}
		f.secretFree(t, v)
	}
	f.secretFree(t, ghToken)
}

// TestMintRateLimitBacksOff: a rate-limited hand-off answers 429 with
// GitHub's reset, and the hand-offs after it do not call GitHub until
// then (the pool's reconcile does not either: they share the backoff).
func TestMintRateLimitBacksOff(t *testing.T) {
	ctx := context.Background()
	f := newMinterFixture(t, repoSource+`}`)
	reset := time.Now().Add(40 * time.Minute).Truncate(time.Second)
	f.gh.SetRateLimit(5000, 0, reset)
	_, err := f.m.Mint(ctx, f.p, instanceID, 1)
	if apperr.Code(err) != apperr.RateLimited || apperr.RetryAfter(err) < 39*time.Minute || apperr.RetryAfter(err) > 40*time.Minute {
		t.Fatalf("Mint = %v (retry after %v); want 429 until GitHub's reset", err, apperr.RetryAfter(err))
	}
	f.gh.SetRateLimit(5000, 5000, reset)
	calls := f.gh.Calls()
	if _, err := f.m.Mint(ctx, f.p, "i-0123456789abcdef1", 1); apperr.Code(err) != apperr.RateLimited {
		t.Fatalf("second Mint = %v; want still rate limited", err)
	}
	if f.gh.Calls() != calls {
		t.Error("a hand-off inside the backoff called GitHub")
	}
	if !f.s.limits.wait("ci/github", time.Now()) {
		t.Error("the pool's reconcile does not back off with the hand-off")
	}
}

// TestMintSpreadsOverRepos: with several repos, each instance's runners
// go where queued jobs wait for them (queued less the slots of runners
// already minted there), the first repo on a tie; a retried hand-off
// goes back where it went.
func TestMintSpreadsOverRepos(t *testing.T) {
	ctx := context.Background()
	f := newMinterFixture(t, `{"webhookSecret": "whsec", "token": "`+ghToken+`", "apiUrl": "$API", "repos": ["octo/app", "octo/lib"]}`)
	rec, err := f.reg.Get(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, _, err := f.s.track(ctx, rec, func(tr *trackerRecord) (bool, error) {
		tr.Tracker.Advance("github:1", Queued, "octo/lib", "", now)
		tr.Tracker.Advance("github:2", Queued, "Octo/Lib", "", now)
		tr.Tracker.Advance("github:3", Queued, "octo/app", "", now)
		tr.Tracker.Advance("github:4", Running, "octo/app", "i-0000000000000000a", now)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Each instance's slots, and where it goes: queued jobs less the
	// slots of the runners minted there, the first repo on a tie.
	mints := []struct {
		id, want string
		slots    int
	}{
		{"i-00000000000000001", "repos/octo/lib", 2}, // lib 2, app 1
		{"i-00000000000000002", "repos/octo/app", 1}, // lib 0, app 1
		{"i-00000000000000003", "repos/octo/app", 1}, // lib 0, app 0: the first
		{"i-00000000000000004", "repos/octo/lib", 1}, // lib 0, app -1
	}
	for _, m := range mints {
		if _, err := f.m.Mint(ctx, f.p, m.id, m.slots); err != nil {
			t.Fatal(err)
		}
	}
	// The first instance's hand-off again: back to lib (a 409 there,
	// replaced), not to the repo the counts now favour.
	if _, err := f.m.Mint(ctx, f.p, "i-00000000000000001", 2); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range f.gh.Runners() {
		got[r.Name] = r.Scope
	}
	for _, m := range mints {
		if got[m.id] != m.want {
			t.Errorf("%s registered in %q; want %q (all: %v)", m.id, got[m.id], m.want, got)
		}
	}
	if len(got) != 5 || got["i-00000000000000001-2"] != "repos/octo/lib" {
		t.Errorf("runners %v; want one per slot, a slot's beside its instance's", got)
	}
}

// TestWebURL: the address config.sh takes, from the API base.
func TestWebURL(t *testing.T) {
	tests := map[string]struct {
		api   string
		scope github.Scope
		want  string
	}{
		"github.com repo": {api: "https://api.github.com", scope: github.RepoScope("octo/app"), want: "https://github.com/octo/app"},
		"github.com org":  {api: "https://api.github.com/", scope: github.OrgScope("octo"), want: "https://github.com/octo"},
		"GHES":            {api: "https://ghe.example.com/api/v3", scope: github.RepoScope("octo/app"), want: "https://ghe.example.com/octo/app"},
		"GHES slash":      {api: "https://ghe.example.com/api/v3/", scope: github.OrgScope("octo"), want: "https://ghe.example.com/octo"},
		"local server":    {api: "http://127.0.0.1:8080", scope: github.OrgScope("octo"), want: "http://127.0.0.1:8080/octo"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := github.WebURL(tt.api, tt.scope); got != tt.want {
				t.Errorf("WebURL(%q) = %q; want %q", tt.api, got, tt.want)
			}
		})
	}
}
