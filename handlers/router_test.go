package handlers_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// Provider secrets of the fixture's hook token: no reply may hold one.
const (
	slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	twilioToken = "twilio-auth-token-0123456789abcdef"
	mailgunKey  = "key-mailgun-signing-0123456789abcdef"
	iftttSecret = "ifttt-0123456789abcdef0123456789abcdef"
	publicURL   = "https://spotter.example"
	adminToken  = "spa_admin-token-for-the-router-tests"
)

// fixture is the real router (server.New) over the real task pipeline, a
// capability registry on the embedded store, and spot on an in-process
// awssim: what serve wires, without a listener or a process.
type fixture struct {
	e   *echo.Echo
	reg *capability.Registry
	sim *awssim.Sim
	// respURL is where Slack results may be posted; posts receives each.
	respURL string
	posts   chan string
	// tokens by name: plain, hooks (every source set up), signed
	// (requireSignature), totp (spotter-checked MFA), revoked.
	tokens map[string]api.CreatedToken

	mu       sync.Mutex
	outcomes []string // "task/outcome", as the pipeline told the metrics
}

func mustFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	f := &fixture{tokens: map[string]api.CreatedToken{}, sim: awssim.New(awssim.Options{Seed: 11}), posts: make(chan string, 4)}
	sim := httptest.NewServer(f.sim)
	tb.Cleanup(sim.Close)
	resp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.posts <- string(b)
	}))
	tb.Cleanup(resp.Close)
	f.respURL = resp.URL + "/slack/"
	sp, err := spot.New(spot.Config{EC2Endpoint: sim.URL, STSEndpoint: sim.URL, PricingEndpoint: sim.URL, DefaultRegion: "us-east-1"})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := secrets.OpenEmbedded(tb.TempDir(), nil, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, PublicURL: publicURL, CacheTTL: time.Nanosecond})
	if err != nil {
		tb.Fatal(err)
	}
	f.reg = reg
	bg := &handlers.Background{Log: log}
	tb.Cleanup(func() { bg.Wait(context.Background()) })
	deps := handlers.TaskDeps{
		Pipeline: &task.Pipeline{Tokens: reg, Spot: sp, Audit: log, Log: log, Observe: func(name, outcome string, _ task.Result) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.outcomes = append(f.outcomes, name+"/"+outcome)
		}},
		Tokens: reg, Background: bg,
		Sources: handlers.SourceConfig{PublicURL: publicURL, SlackResponseURLs: []string{f.respURL}, Log: log},
	}
	admin, _, err := capability.NewAdmin(ctx, st, adminToken)
	if err != nil {
		tb.Fatal(err)
	}
	f.e = server.New(server.Deps{Logger: log, Tokens: reg, Admin: admin, Keys: st, Tasks: deps}, server.Options{})

	pol := &api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-0123456789abcdef0"},
		MaxCount: 2, MaxRunning: 4, MaxTTL: api.Duration(2 * time.Hour), Tasks: []string{"launch", "terminate", "status", "price"}}
	keys := &api.CredentialsInput{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}
	for name, in := range map[string]api.CreateTokenRequest{
		"plain":   {},
		"hooks":   {Sources: &api.SourcesInput{Slack: &api.SlackSource{SigningSecret: slackSecret}, Twilio: &api.TwilioSource{AuthToken: twilioToken}, Mailgun: &api.MailgunSource{SigningKey: mailgunKey}, IFTTT: &api.IFTTTSource{Secret: iftttSecret}}},
		"signed":  {RequireSignature: true},
		"totp":    {MFA: &api.MFAInput{TOTP: true}},
		"revoked": {},
	} {
		in.Name, in.Credentials, in.Policy = name, keys, pol
		c, err := reg.Create(ctx, in)
		if err != nil {
			tb.Fatalf("create token %s: %v", name, err)
		}
		f.tokens[name] = c
	}
	if _, err := reg.Revoke(ctx, f.tokens["revoked"].ID); err != nil {
		tb.Fatal(err)
	}
	return f
}

// raw is a fixture token's capability token.
func (f *fixture) raw(name string) string { return f.tokens[name].Token }

// do sends one request through the router.
func (f *fixture) do(method, path, ctype, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set(echo.HeaderContentType, ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.e.ServeHTTP(rec, req)
	return rec
}

// takeOutcomes returns and forgets what the pipeline reported so far.
func (f *fixture) takeOutcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.outcomes
	f.outcomes = nil
	return out
}

// routeCase is one request through the router and what must come back.
type routeCase struct {
	name   string
	method string // POST if empty
	path   string
	ctype  string
	body   string
	header map[string]string
	// wantStatus and wantCode (the JSON "error"; "" for none) are checked
	// first; want are substrings of the body.
	wantStatus int
	wantCode   string
	want       []string
	// wantOutcome is what the pipeline reported to the metrics ("" for
	// nothing: a help text, or a request refused before the pipeline).
	wantOutcome string
}

// run sends each case and checks its reply. No reply may hold a secret.
func (f *fixture) run(t *testing.T, cases []routeCase) {
	t.Helper()
	secretsOf := []string{slackSecret, twilioToken, mailgunKey, iftttSecret, adminToken, awssim.DefaultSecretAccessKey}
	for _, c := range f.tokens {
		secretsOf = append(secretsOf, c.Token)
		if c.SigningSecret != "" {
			secretsOf = append(secretsOf, c.SigningSecret)
		}
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f.takeOutcomes()
			method := cmp.Or(tt.method, http.MethodPost)
			rec := f.do(method, tt.path, tt.ctype, tt.body, tt.header)
			body := rec.Body.String()
			if strings.Contains(body, "Working on it: ") {
				// Slack's inline wait ran out (a loaded machine): the
				// result follows at response_url, where it is checked.
				select {
				case post := <-f.posts:
					rec.Body.Reset()
					rec.Body.WriteString(post)
					body = post
				case <-time.After(30 * time.Second):
					t.Fatalf("%s %s acknowledged, but no result posted to response_url", method, redact(tt.path))
				}
			}
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s = %d %s; want %d", method, redact(tt.path), rec.Code, body, tt.wantStatus)
			}
			if strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON) && body != "" {
				var v struct {
					Code  int    `json:"code"`
					Error string `json:"error"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
					t.Fatalf("reply %q is not JSON: %v", body, err)
				}
				if v.Error != tt.wantCode {
					t.Errorf("%s %s error = %q; want %q (%s)", method, redact(tt.path), v.Error, tt.wantCode, body)
				}
			} else if tt.wantCode != "" {
				t.Errorf("%s %s = %s %q; want a JSON error %q", method, redact(tt.path), rec.Header().Get(echo.HeaderContentType), body, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("reply %s lacks %s", body, w)
				}
			}
			for _, s := range secretsOf {
				if strings.Contains(body, s) {
					t.Errorf("reply holds a secret or a token: %s", body)
				}
			}
			got := f.takeOutcomes()
			switch {
			case tt.wantOutcome == "" && len(got) != 0:
				t.Errorf("pipeline reported %v; want nothing", got)
			case tt.wantOutcome != "" && (len(got) != 1 || got[0] != tt.wantOutcome):
				t.Errorf("pipeline reported %v; want [%s]", got, tt.wantOutcome)
			}
		})
	}
}

// redact keeps a capability token out of a failure message.
func redact(path string) string {
	if i := strings.Index(path, "/hooks/"); i >= 0 {
		rest := path[i+len("/hooks/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return path[:i] + "/hooks/<token>" + rest[j:]
		}
		return path[:i] + "/hooks/<token>"
	}
	return path
}

// TestTaskRoutes drives the native task endpoints (POST /v1/tasks with a
// bearer token, POST /hooks/:token) through the real router.
func TestTaskRoutes(t *testing.T) {
	f := mustFixture(t)
	plain, id := "/hooks/"+f.raw("plain"), f.tokens["plain"].ID
	bearer := map[string]string{echo.HeaderAuthorization: "Bearer " + f.raw("plain")}
	const jsonType = echo.MIMEApplicationJSON
	f.run(t, []routeCase{
		{name: "bearer status", path: "/v1/tasks", ctype: jsonType, body: `{"task":"status"}`, header: bearer,
			wantStatus: 200, want: []string{`"code":200`, `"task":"status"`, `"region":"us-east-1"`, `"tokenId":"` + id + `"`, `"instances":[]`}, wantOutcome: "status/ok"},
		{name: "bearer missing", path: "/v1/tasks", ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.TokenInvalid, want: []string{"Authorization: Bearer"}},
		{name: "bearer not Bearer", path: "/v1/tasks", ctype: jsonType, body: `{"task":"status"}`, header: map[string]string{echo.HeaderAuthorization: "Basic " + f.raw("plain")},
			wantStatus: 401, wantCode: apperr.TokenInvalid},
		{name: "url status", path: plain, ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 200, want: []string{`"task":"status"`, `"instances":[]`}, wantOutcome: "status/ok"},
		{name: "no content type is JSON", path: plain, body: `{"task":"status"}`, wantStatus: 200, wantOutcome: "status/ok"},
		{name: "curl -d form type with a JSON body", path: plain, ctype: "application/x-www-form-urlencoded", body: `{"task":"status"}`, wantStatus: 200, wantOutcome: "status/ok"},
		{name: "wt-spotter body", path: plain, ctype: jsonType, body: `{"construct":{"keys":{"region":"us-east-1"}},"attributes":{"task":"status"}}`,
			wantStatus: 200, want: []string{`"task":"status"`}, wantOutcome: "status/ok"},
		{name: "unknown token", path: "/hooks/not-a-token", ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.TokenInvalid, wantOutcome: "unknown/refused"},
		{name: "revoked token", path: "/hooks/" + f.raw("revoked"), ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.TokenRevoked, wantOutcome: "unknown/refused"},
		{name: "text body", path: plain, ctype: "text/plain", body: `status`,
			wantStatus: 415, wantCode: apperr.Unsupported, wantOutcome: "unknown/refused"},
		{name: "malformed JSON", path: plain, ctype: jsonType, body: `{"task":`,
			wantStatus: 400, wantCode: apperr.Invalid, want: []string{"malformed JSON"}, wantOutcome: "unknown/refused"},
		{name: "unknown field", path: plain, ctype: jsonType, body: `{"task":"status","maxPrise":1}`,
			wantStatus: 400, wantCode: apperr.Invalid, want: []string{`unknown field \"maxPrise\"`}, wantOutcome: "unknown/refused"},
		{name: "no task", path: plain, ctype: jsonType, body: `{}`,
			wantStatus: 400, wantCode: apperr.Invalid, want: []string{"task: name one of"}, wantOutcome: "unknown/refused"},
		{name: "region outside the policy", path: plain, ctype: jsonType, body: `{"task":"status","region":"eu-west-1"}`,
			wantStatus: 403, wantCode: apperr.PolicyDenied, want: []string{"eu-west-1"}, wantOutcome: "status/refused"},
		{name: "task outside the policy", path: plain, ctype: jsonType, body: `{"task":"cancel"}`,
			wantStatus: 403, wantCode: apperr.PolicyDenied, wantOutcome: "cancel/refused"},
		{name: "count at maxCount", path: plain, ctype: jsonType, body: `{"task":"launch","count":2,"dryRun":true}`,
			wantStatus: 200, want: []string{`"dryRun":true`}, wantOutcome: "launch/ok"},
		{name: "count past maxCount", path: plain, ctype: jsonType, body: `{"task":"launch","count":3,"dryRun":true}`,
			wantStatus: 403, wantCode: apperr.PolicyDenied, want: []string{"maxCount"}, wantOutcome: "launch/refused"},
		{name: "signature required, none sent", path: "/hooks/" + f.raw("signed"), ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.SignatureInvalid, want: []string{"X-Spotter-Signature"}, wantOutcome: "unknown/refused"},
		{name: "MFA token without a code", path: "/hooks/" + f.raw("totp"), ctype: jsonType, body: `{"task":"status"}`,
			wantStatus: 401, wantCode: apperr.MFARequired, wantOutcome: "status/refused"},
		{name: "MFA token with a malformed code", path: "/hooks/" + f.raw("totp"), ctype: jsonType, body: `{"task":"status","mfaCode":"12"}`,
			wantStatus: 401, wantCode: apperr.MFAInvalid, wantOutcome: "status/refused"},
		{name: "body past the limit", path: plain, ctype: jsonType, body: `{"task":"status","tags":{"a":"` + strings.Repeat("x", 64<<10) + `"}}`,
			wantStatus: 413, wantCode: apperr.TooLarge},
	})
}

// A launch sent twice with one Idempotency-Key starts its instance once;
// the header is trimmed, and an IFTTT ingredient left in it is no key.
func TestTaskRouteIdempotencyKey(t *testing.T) {
	f := mustFixture(t)
	launch := func(key string) (ids []string, replayed bool, warnings []string) {
		t.Helper()
		rec := f.do(http.MethodPost, "/hooks/"+f.raw("plain"), echo.MIMEApplicationJSON, `{"task":"launch"}`, map[string]string{"Idempotency-Key": key})
		var v struct {
			Instances []struct{ ID string } `json:"instances"`
			Replayed  bool                  `json:"replayed"`
			Warnings  []string              `json:"warnings"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("launch with key %q = %d %s", key, rec.Code, rec.Body)
		}
		for _, in := range v.Instances {
			ids = append(ids, in.ID)
		}
		return ids, v.Replayed, v.Warnings
	}
	first, replayed, _ := launch("deploy-42")
	if len(first) != 1 || replayed {
		t.Fatalf("first launch = %v, replayed %v; want one new instance", first, replayed)
	}
	again, replayed, _ := launch("  deploy-42 ")
	if len(again) != 1 || again[0] != first[0] || !replayed {
		t.Fatalf("same key again = %v, replayed %v; want %v replayed", again, replayed, first)
	}
	// An unreplaced ingredient is no key: the launch falls back to the
	// body within the dedupe window, and the reply says how to tell
	// launches apart.
	_, _, warnings := launch("{{OccurredAt}}")
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "Idempotency-Key") {
		t.Errorf("launch with an ingredient as key warned %q; want the no-key warning", warnings)
	}
}

// A signed body runs once; the same signed request again is a replay.
func TestTaskRouteSignature(t *testing.T) {
	f := mustFixture(t)
	body := `{"task":"status"}`
	hdr := map[string]string{token.SignatureHeader: token.Sign([]byte(f.tokens["signed"].SigningSecret), time.Now(), []byte(body))}
	path := "/hooks/" + f.raw("signed")
	f.run(t, []routeCase{
		{name: "signed", path: path, ctype: echo.MIMEApplicationJSON, body: body, header: hdr, wantStatus: 200, want: []string{`"task":"status"`}, wantOutcome: "status/ok"},
		{name: "replayed", path: path, ctype: echo.MIMEApplicationJSON, body: body, header: hdr, wantStatus: 409, wantCode: apperr.SignatureReplay, wantOutcome: "unknown/refused"},
		{name: "another body under the signature", path: path, ctype: echo.MIMEApplicationJSON, body: `{"task":"price"}`, header: hdr,
			wantStatus: 401, wantCode: apperr.SignatureInvalid, wantOutcome: "unknown/refused"},
	})
}
