package app_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/cli"
)

// Provider secrets of the hook tokens; every reply and the log are checked
// for them.
const (
	hookSlackSecret  = "8f742231b10e8888abcd99yyyzzz85a5"
	hookTwilioToken  = "twilio-auth-token-0123456789abcdef"
	hookMailgunKey   = "key-mailgun-signing-0123456789abcdef"
	hookIFTTTSecret  = "ifttt-0123456789abcdef0123456789abcdef"
	hookPolicy       = `{"regions":["us-east-1"],"instanceTypes":["t3.micro","t3.small"],"amis":["ami-0123456789abcdef0"],"maxCount":3,"maxRunning":20,"maxTTL":"2h","tasks":["launch","terminate","status","price"],"presets":{"small":{"instanceTypes":["t3.micro"],"ttl":"30m"}}}`
	hookSourcesJSON  = `{"slack":{"signingSecret":"` + hookSlackSecret + `"},"twilio":{"authToken":"` + hookTwilioToken + `"},"mailgun":{"signingKey":"` + hookMailgunKey + `"},"ifttt":{"secret":"` + hookIFTTTSecret + `"}}`
	slackRespPath    = "/slack/commands/"
	slowLaunchBudget = 3 * time.Second
)

// hookStack is a serve whose Slack results may go to a local server, which
// hands every post it receives to posts.
type hookStack struct {
	*stack
	respBase string
	posts    chan map[string]any
}

func startHookStack(t *testing.T, backend string) *hookStack {
	t.Helper()
	posts := make(chan map[string]any, 16)
	resp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		_ = json.NewDecoder(r.Body).Decode(&v)
		posts <- v
	}))
	t.Cleanup(resp.Close)
	s := startStackEnv(t, backend, map[string]string{"SPOTTER_SLACK_RESPONSE_URLS": resp.URL + slackRespPath})
	return &hookStack{stack: s, respBase: resp.URL + slackRespPath, posts: posts}
}

// post sends a raw body and returns status, content type and body.
func (s *hookStack) post(t *testing.T, u, ctype, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// slackSign signs a body as Slack does: v0= hex HMAC-SHA256 over v0:ts:body.
func slackSign(secret, ts, body string) map[string]string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	return map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + hex.EncodeToString(m.Sum(nil))}
}

// twilioSign signs as Twilio does: base64 HMAC-SHA1 over the URL and each
// field name+value, sorted by name.
func twilioSign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := fullURL
	for _, k := range keys {
		data += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// mailgunSign is hex HMAC-SHA256 over timestamp + token.
func mailgunSign(key, ts, token string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + token))
	return hex.EncodeToString(m.Sum(nil))
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// slackForm is a slash command's body.
func slackForm(text, responseURL, trigger string) string {
	return url.Values{"command": {"/spotter"}, "text": {text}, "response_url": {responseURL}, "trigger_id": {trigger},
		"user_id": {"U2CERLKJA"}, "team_id": {"T1DC2JH3J"}, "channel_id": {"G8PSS9T3V"}}.Encode()
}

// TestSourceWithoutSettings: a token with no settings for a source is
// refused at that source's endpoint, whatever the request holds.
func TestSourceWithoutSettings(t *testing.T) {
	s := startHookStack(t, "embedded")
	bare := s.createToken(t, `{"name":"bare","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`}`)
	for _, src := range []string{"slack", "twilio", "mailgun", "ifttt"} {
		t.Run(src, func(t *testing.T) {
			code, _, body := s.post(t, bare["url"].(string)+"/"+src, "application/x-www-form-urlencoded", "text=status&Body=status", nil)
			if code != 403 || !strings.Contains(body, `"forbidden"`) || !strings.Contains(body, src) {
				t.Fatalf("POST /%s on a token without %s settings = %d %s; want 403 forbidden", src, src, code, body)
			}
		})
	}
}

// TestSlackHook drives slash commands through a real serve: signed ones run,
// forged, stale and replayed ones are refused and launch nothing, and a
// launch slower than Slack's 3 s is acknowledged and reported to response_url.
func TestSlackHook(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startHookStack(t, backend)
			tok := s.createToken(t, `{"name":"slack","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
			hook := tok["url"].(string) + "/slack"
			now := time.Now()
			replayed := slackForm("status", s.respBase+"r0", "1.1.replay")
			replayedHdr := slackSign(hookSlackSecret, unix(now), replayed)

			tests := []struct {
				name       string
				body       string
				hdr        map[string]string
				wantCode   int
				wantErr    string // stable error code of a refused request
				wantType   string // response_type of a Slack reply
				wantText   string
				wantLaunch int
			}{
				{name: "status", body: replayed, hdr: replayedHdr, wantCode: 200, wantType: "in_channel", wantText: "No instances running in us-east-1"},
				{name: "replayed", body: replayed, hdr: replayedHdr, wantCode: 409, wantErr: "signature_replayed"},
				{name: "help", body: slackForm("help", s.respBase+"r1", "1.1.help"), wantCode: 200, wantType: "ephemeral", wantText: "launch [N] [type|preset]"},
				{name: "launch 2", body: slackForm("launch 2 t3.micro for 1h", s.respBase+"r2", "1.1.launch"), wantCode: 200, wantType: "in_channel", wantText: "Launched 2 instance(s)", wantLaunch: 2},
				{name: "preset", body: slackForm("launch small", s.respBase+"r3", "1.1.preset"), wantCode: 200, wantType: "in_channel", wantText: "t3.micro", wantLaunch: 1},
				{name: "unknown words", body: slackForm("launch please now", s.respBase+"r4", "1.1.words"), wantCode: 200, wantType: "ephemeral", wantText: "Name one preset"},
				{name: "unknown preset", body: slackForm("launch gpu", s.respBase+"r5", "1.1.gpu"), wantCode: 200, wantType: "ephemeral", wantText: `no preset "gpu"`},
				{name: "policy", body: slackForm("launch p3.2xlarge", s.respBase+"r6", "1.1.policy"), wantCode: 200, wantType: "ephemeral", wantText: "Not allowed"},
				{name: "response_url elsewhere", body: slackForm("launch", "https://example.com/x", "1.1.ssrf"), wantCode: 200, wantType: "ephemeral", wantText: "response_url"},
				{name: "bad signature", body: slackForm("launch", s.respBase+"r7", "1.1.bad"), hdr: slackSign("wrong-secret-0000", unix(now), slackForm("launch", s.respBase+"r7", "1.1.bad")), wantCode: 401, wantErr: "signature_invalid"},
				{name: "body changed", body: slackForm("launch 3", s.respBase+"r8", "1.1.chg"), hdr: slackSign(hookSlackSecret, unix(now), slackForm("status", s.respBase+"r8", "1.1.chg")), wantCode: 401, wantErr: "signature_invalid"},
				{name: "stale", body: slackForm("launch", s.respBase+"r9", "1.1.stale"), hdr: slackSign(hookSlackSecret, unix(now.Add(-6*time.Minute)), slackForm("launch", s.respBase+"r9", "1.1.stale")), wantCode: 401, wantErr: "signature_expired"},
				{name: "unsigned", body: slackForm("launch", s.respBase+"r10", "1.1.none"), hdr: map[string]string{}, wantCode: 401, wantErr: "signature_invalid"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					hdr := tt.hdr
					if hdr == nil {
						hdr = slackSign(hookSlackSecret, unix(time.Now()), tt.body)
					}
					before := s.liveInstances()
					code, _, raw := s.post(t, hook, "application/x-www-form-urlencoded", tt.body, hdr)
					var v map[string]any
					_ = json.Unmarshal([]byte(raw), &v)
					if code != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
						t.Fatalf("POST slack %q = %d %s; want %d %s", tt.name, code, raw, tt.wantCode, tt.wantErr)
					}
					if tt.wantType != "" && (v["response_type"] != tt.wantType || !strings.Contains(v["text"].(string), tt.wantText)) {
						t.Fatalf("POST slack %q = %s; want a %s reply saying %q", tt.name, raw, tt.wantType, tt.wantText)
					}
					if got := s.liveInstances() - before; got != tt.wantLaunch {
						t.Errorf("POST slack %q launched %d; want %d", tt.name, got, tt.wantLaunch)
					}
					if strings.Contains(raw, hookSlackSecret) || strings.Contains(raw, tok["token"].(string)) {
						t.Errorf("reply holds a secret: %s", raw)
					}
				})
			}

			t.Run("a launch slower than 3 s is acknowledged, then posted", func(t *testing.T) {
				if err := s.sim.SetLatency("CreateFleet", 4*time.Second); err != nil {
					t.Fatal(err)
				}
				defer s.sim.SetLatency("CreateFleet", 0)
				body := slackForm("launch t3.small", s.respBase+"slow", "1.1.slow")
				before := s.liveInstances()
				start := time.Now()
				code, _, raw := s.post(t, hook, "application/x-www-form-urlencoded", body, slackSign(hookSlackSecret, unix(start), body))
				if took := time.Since(start); code != 200 || took >= slowLaunchBudget || !strings.Contains(raw, "Working on it: launch t3.small") {
					t.Fatalf("slow launch answered %d after %s: %s; want a 200 acknowledgement within 3 s", code, took, raw)
				}
				select {
				case v := <-s.posts:
					if v["response_type"] != "in_channel" || !strings.Contains(v["text"].(string), "Launched 1 instance(s)") {
						t.Fatalf("response_url got %v; want the launch result", v)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("no result reached response_url within 30 s")
				}
				if got := s.liveInstances() - before; got != 1 {
					t.Errorf("slow launch started %d instances; want 1", got)
				}
			})

			t.Run("a launch under way at shutdown is finished and posted", func(t *testing.T) {
				if err := s.sim.SetLatency("CreateFleet", 2500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				body := slackForm("launch t3.small", s.respBase+"shutdown", "1.1.shutdown")
				code, _, raw := s.post(t, hook, "application/x-www-form-urlencoded", body, slackSign(hookSlackSecret, unix(time.Now()), body))
				if code != 200 || !strings.Contains(raw, "Working on it") {
					t.Fatalf("slow launch answered %d %s; want the acknowledgement", code, raw)
				}
				before := s.liveInstances()
				if err := s.stop(); err != nil { // returns once serve has
					t.Fatal(err)
				}
				select {
				case v := <-s.posts:
					if !strings.Contains(v["text"].(string), "Launched 1 instance(s)") {
						t.Fatalf("response_url got %v; want the launch result", v)
					}
				default:
					t.Fatal("serve stopped before the launch it had acknowledged posted its result")
				}
				if got := s.liveInstances() - before; got != 1 {
					t.Errorf("the launch under way at shutdown started %d instances; want 1", got)
				}
			})

			for _, secret := range []string{hookSlackSecret, tok["token"].(string)} {
				if strings.Contains(s.logs.String(), secret) {
					t.Errorf("a secret (%d chars) reached the log", len(secret))
				}
			}
		})
	}
}

// TestSlackResponseURLsFlag: serve refuses a response_url prefix that would
// let Slack results go to an arbitrary host.
func TestSlackResponseURLsFlag(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr string
	}{
		{name: "plain http off loopback", value: "http://hooks.slack.com/", wantErr: "plain http only to a loopback address"},
		{name: "not absolute", value: "hooks.slack.com", wantErr: "want an absolute URL"},
		{name: "one bad among good", value: "https://hooks.slack.com/, ftp://relay.example.com/", wantErr: "want https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			err := cli.Run(t.Context(), []string{"spotter", "serve", "--slack-response-urls", tt.value}, envFunc(nil), strings.NewReader(""), &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("serve --slack-response-urls %q = %v; want an error saying %q", tt.value, err, tt.wantErr)
			}
		})
	}
}
