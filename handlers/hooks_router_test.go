package handlers_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/handlers"
)

const formType = "application/x-www-form-urlencoded"

// slackSigned is a slash command's form and the headers Slack signs it
// with: v0= hex HMAC-SHA256 over v0:ts:body.
func (f *fixture) slackSigned(secret string, at time.Time, fields url.Values) (string, map[string]string) {
	base := url.Values{"command": {"/spotter"}, "response_url": {f.respURL + "T1/B1/x"}, "user_id": {"U2CERLKJA"}}
	for k, v := range fields {
		base[k] = v
	}
	body := base.Encode()
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	return body, map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + hex.EncodeToString(m.Sum(nil))}
}

// twilioSigned is an SMS webhook's form and X-Twilio-Signature: base64
// HMAC-SHA1 over the URL Twilio called and each field name+value, sorted.
func twilioSigned(authToken, fullURL string, form url.Values) (string, map[string]string) {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	data := fullURL
	for _, k := range names {
		data += k + form.Get(k)
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(data))
	return form.Encode(), map[string]string{"X-Twilio-Signature": base64.StdEncoding.EncodeToString(m.Sum(nil))}
}

// mailgunForm is an inbound route's form, signed as Mailgun signs it: hex
// HMAC-SHA256 over timestamp + token.
func mailgunForm(key, tok string, at time.Time, fields url.Values) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + tok))
	fields.Set("timestamp", ts)
	fields.Set("token", tok)
	fields.Set("signature", hex.EncodeToString(m.Sum(nil)))
	return fields.Encode()
}

// TestHookRoutes drives each provider endpoint through the real router:
// a genuine request runs and answers in the provider's format, a forged
// one is a plain HTTP error, and a genuine one that is refused is told in
// the provider's format.
func TestHookRoutes(t *testing.T) {
	f := mustFixture(t)
	now := time.Now()
	hooks := "/hooks/" + f.raw("hooks")
	noInstances := "No instances running in us-east-1."
	// The cases run in order on one stack: once Slack has launched, status
	// lists that instance.
	oneRunning := "1 instance(s) in us-east-1, $"

	slackStatus, slackStatusHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"status"}, "trigger_id": {"1.1.status"}})
	slackHelp, slackHelpHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"help"}})
	slackCheck, slackCheckHdr := f.slackSigned(slackSecret, now, url.Values{"ssl_check": {"1"}})
	slackDenied, slackDeniedHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"status in eu-west-1"}})
	slackLaunch, slackLaunchHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"launch t3.micro for 1h"}, "trigger_id": {"1.1.launch"}})
	slackTerminate, slackTerminateHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"terminate i-0123456789abcdef0"}})
	slackElsewhere, slackElsewhereHdr := f.slackSigned(slackSecret, now, url.Values{"text": {"price"}, "response_url": {"https://attacker.example/hook"}})
	slackStale, slackStaleHdr := f.slackSigned(slackSecret, now.Add(-10*time.Minute), url.Values{"text": {"status"}})
	slackForged, slackForgedHdr := f.slackSigned("not-the-secret", now, url.Values{"text": {"status"}})

	twilioURL := publicURL + hooks + "/twilio"
	sms := func(sid, text string) url.Values {
		return url.Values{"MessageSid": {sid}, "From": {"+15551234567"}, "Body": {text}}
	}
	twilioStatus, twilioStatusHdr := twilioSigned(twilioToken, twilioURL, sms("SM"+hex32(1), "status"))
	twilioNoSid, twilioNoSidHdr := twilioSigned(twilioToken, twilioURL, url.Values{"Body": {"status"}})
	twilioForged, twilioForgedHdr := twilioSigned("not-the-token", twilioURL, sms("SM"+hex32(2), "status"))
	twilioDenied, twilioDeniedHdr := twilioSigned(twilioToken, twilioURL, sms("SM"+hex32(3), "status in eu-west-1"))
	twilioPrice, twilioPriceHdr := twilioSigned(twilioToken, twilioURL, sms("SM"+hex32(4), "price"))

	iftttHdr := map[string]string{handlers.IFTTTSecretHeader: iftttSecret}

	f.run(t, []routeCase{
		// Slack: the reply is a message; only a forged or stale request is an HTTP error.
		{name: "slack status", path: hooks + "/slack", ctype: formType, body: slackStatus, header: slackStatusHdr,
			wantStatus: 200, want: []string{`"response_type":"in_channel"`, noInstances}, wantOutcome: "status/ok"},
		{name: "slack replayed", path: hooks + "/slack", ctype: formType, body: slackStatus, header: slackStatusHdr,
			wantStatus: 409, wantCode: apperr.SignatureReplay, wantOutcome: "unknown/refused"},
		{name: "slack help", path: hooks + "/slack", ctype: formType, body: slackHelp, header: slackHelpHdr,
			wantStatus: 200, want: []string{`"response_type":"ephemeral"`, "spotter commands:"}},
		{name: "slack ssl_check", path: hooks + "/slack", ctype: formType, body: slackCheck, header: slackCheckHdr, wantStatus: 200},
		{name: "slack task outside the policy", path: hooks + "/slack", ctype: formType, body: slackDenied, header: slackDeniedHdr,
			wantStatus: 200, want: []string{`"response_type":"ephemeral"`, "Not allowed: ", "eu-west-1"}, wantOutcome: "status/refused"},
		{name: "slack launch", path: hooks + "/slack", ctype: formType, body: slackLaunch, header: slackLaunchHdr,
			wantStatus: 200, want: []string{`"response_type":"in_channel"`, "Launched 1 instance(s) in us-east-1", "t3.micro"}, wantOutcome: "launch/ok"},
		{name: "slack terminate of an instance not its own", path: hooks + "/slack", ctype: formType, body: slackTerminate, header: slackTerminateHdr,
			wantStatus: 200, want: []string{"Nothing to terminate.", "Refused i-0123456789abcdef0: "}, wantOutcome: "terminate/ok"},
		{name: "slack response_url elsewhere", path: hooks + "/slack", ctype: formType, body: slackElsewhere, header: slackElsewhereHdr,
			wantStatus: 200, want: []string{"response_url is not one spotter may post to"}, wantOutcome: "unknown/refused"},
		{name: "slack stale", path: hooks + "/slack", ctype: formType, body: slackStale, header: slackStaleHdr,
			wantStatus: 401, wantCode: apperr.SignatureExpired, wantOutcome: "unknown/refused"},
		{name: "slack forged", path: hooks + "/slack", ctype: formType, body: slackForged, header: slackForgedHdr,
			wantStatus: 401, wantCode: apperr.SignatureInvalid, wantOutcome: "unknown/refused"},
		{name: "slack on a token without slack", path: "/hooks/" + f.raw("plain") + "/slack", ctype: formType, body: slackStatus, header: slackStatusHdr,
			wantStatus: 403, wantCode: apperr.Forbidden, want: []string{"slack"}, wantOutcome: "unknown/refused"},

		// Twilio: TwiML, one <Message> per SMS.
		{name: "twilio status", path: hooks + "/twilio", ctype: formType, body: twilioStatus, header: twilioStatusHdr,
			wantStatus: 200, want: []string{"<Response><Message>" + oneRunning, " t3.micro running, 1h0m0s left</Message></Response>"}, wantOutcome: "status/ok"},
		{name: "twilio redelivered", path: hooks + "/twilio", ctype: formType, body: twilioStatus, header: twilioStatusHdr,
			wantStatus: 409, wantCode: apperr.SignatureReplay, wantOutcome: "unknown/refused"},
		{name: "twilio task outside the policy", path: hooks + "/twilio", ctype: formType, body: twilioDenied, header: twilioDeniedHdr,
			wantStatus: 200, want: []string{"<Message>Not allowed: "}, wantOutcome: "status/refused"},
		{name: "twilio price", path: hooks + "/twilio", ctype: formType, body: twilioPrice, header: twilioPriceHdr,
			wantStatus: 200, want: []string{"<Message>Spot prices in us-east-1, cheapest first:", "t3.micro us-east-1"}, wantOutcome: "price/ok"},
		{name: "twilio without MessageSid", path: hooks + "/twilio", ctype: formType, body: twilioNoSid, header: twilioNoSidHdr,
			wantStatus: 400, wantCode: apperr.Invalid, want: []string{"MessageSid"}, wantOutcome: "unknown/refused"},
		{name: "twilio forged", path: hooks + "/twilio", ctype: formType, body: twilioForged, header: twilioForgedHdr,
			wantStatus: 401, wantCode: apperr.SignatureInvalid, wantOutcome: "unknown/refused"},

		// Mailgun: spotter's JSON with a line for people.
		{name: "mailgun status", path: hooks + "/mailgun", ctype: formType, body: mailgunForm(mailgunKey, "mg-status-0001", now, url.Values{"subject": {"Re: status"}}),
			wantStatus: 200, want: []string{`"task":"status"`, `"text":"` + oneRunning}, wantOutcome: "status/ok"},
		{name: "mailgun help", path: hooks + "/mailgun", ctype: formType, body: mailgunForm(mailgunKey, "mg-help-0001", now, url.Values{"subject": {"help"}}),
			wantStatus: 200, want: []string{`"code":200`, "spotter commands:", `"requestId":`}},
		{name: "mailgun forged", path: hooks + "/mailgun", ctype: formType, body: mailgunForm("not-the-key", "mg-forged-0001", now, url.Values{"subject": {"status"}}),
			wantStatus: 401, wantCode: apperr.SignatureInvalid, wantOutcome: "unknown/refused"},
		{name: "mailgun task outside the policy", path: hooks + "/mailgun", ctype: formType, body: mailgunForm(mailgunKey, "mg-denied-0001", now, url.Values{"stripped-text": {"status in eu-west-1"}}),
			wantStatus: 403, wantCode: apperr.PolicyDenied, wantOutcome: "status/refused"},

		// IFTTT: a static secret in a header or a field, a command in value1 or a JSON task.
		{name: "ifttt value1", path: hooks + "/ifttt", ctype: "application/json", body: `{"value1":"status","value2":"{{FromNumber}}"}`, header: iftttHdr,
			wantStatus: 200, want: []string{`"task":"status"`, `"text":"` + oneRunning}, wantOutcome: "status/ok"},
		{name: "ifttt JSON task with an ingredient left", path: hooks + "/ifttt", ctype: "application/json", body: `{"task":"status","region":"{{Region}}"}`, header: iftttHdr,
			wantStatus: 200, want: []string{`"region":"us-east-1"`}, wantOutcome: "status/ok"},
		{name: "ifttt secret as a field", path: hooks + "/ifttt", ctype: formType, body: url.Values{"secret": {iftttSecret}, "value1": {"status"}}.Encode(),
			wantStatus: 200, want: []string{`"task":"status"`}, wantOutcome: "status/ok"},
		{name: "ifttt wrong secret", path: hooks + "/ifttt", ctype: "application/json", body: `{"value1":"status"}`, header: map[string]string{handlers.IFTTTSecretHeader: "guess"},
			wantStatus: 401, wantCode: apperr.SignatureInvalid, want: []string{"does not match"}, wantOutcome: "unknown/refused"},
		{name: "ifttt secret left an ingredient", path: hooks + "/ifttt", ctype: "application/json", body: `{"value1":"status"}`, header: map[string]string{handlers.IFTTTSecretHeader: "{{Secret}}"},
			wantStatus: 401, wantCode: apperr.SignatureInvalid, want: []string{handlers.IFTTTSecretHeader}, wantOutcome: "unknown/refused"},
	})
}

// hex32 is a 32-digit hex id, as in a Twilio MessageSid.
func hex32(n int) string {
	s := strconv.FormatInt(int64(n), 16)
	for len(s) < 32 {
		s = "0" + s
	}
	return s
}

// A Slack task slower than Slack waits for is acknowledged at once, and
// its result is posted to the command's response_url when it is done.
func TestSlackSlowTask(t *testing.T) {
	f := mustFixture(t)
	if err := f.sim.SetLatency("CreateFleet", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	body, hdr := f.slackSigned(slackSecret, time.Now(), url.Values{"text": {"launch t3.micro for 1h"}, "trigger_id": {"1.1.slow"}})
	rec := f.do(http.MethodPost, "/hooks/"+f.raw("hooks")+"/slack", formType, body, hdr)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Working on it: launch t3.micro") {
		t.Fatalf("slow Slack launch = %d %s; want the acknowledgement", rec.Code, rec.Body)
	}
	select {
	case post := <-f.posts:
		for _, want := range []string{`"response_type":"in_channel"`, "Launched 1 instance(s) in us-east-1"} {
			if !strings.Contains(post, want) {
				t.Errorf("response_url got %s; want %s", post, want)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no result posted to response_url")
	}
}
