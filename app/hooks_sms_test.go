package app_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestTwilioHook sends SMS webhooks signed over the public URL: valid ones
// run and answer in TwiML, forged and replayed ones launch nothing.
func TestTwilioHook(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startHookStack(t, backend)
			tok := s.createToken(t, `{"name":"sms","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
			mfa := s.createToken(t, `{"name":"sms mfa","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
			code, _ := totp.GenerateCodeCustom(mfa["totp"].(map[string]any)["secret"].(string), time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			sms := func(sid, text string) url.Values {
				return url.Values{"MessageSid": {sid}, "AccountSid": {"AC" + strings.Repeat("0", 32)}, "From": {"+14158675309"}, "To": {"+18005551212"}, "Body": {text}}
			}
			sid := func(n string) string { return "SM" + strings.Repeat("0", 32-len(n)) + n }
			tests := []struct {
				name       string
				tok        map[string]any
				form       url.Values
				signURL    string // "" = the hook URL itself
				signToken  string // "" = the right auth token
				wantCode   int
				wantErr    string
				wantText   string
				wantLaunch int
			}{
				{name: "status", tok: tok, form: sms(sid("1"), "status"), wantCode: 200, wantText: "No instances running"},
				{name: "replayed MessageSid", tok: tok, form: sms(sid("1"), "status"), wantCode: 409, wantErr: "signature_replayed"},
				{name: "launch a preset", tok: tok, form: sms(sid("2"), "Launch small."), wantCode: 200, wantText: "Launched 1 instance(s)", wantLaunch: 1},
				{name: "help", tok: tok, form: sms(sid("3"), "help"), wantCode: 200, wantText: "spotter commands"},
				{name: "gibberish", tok: tok, form: sms(sid("4"), "hello there"), wantCode: 200, wantText: "I don't know"},
				{name: "mfa missing", tok: mfa, form: sms(sid("5"), "launch t3.micro"), wantCode: 200, wantText: "needs an MFA code"},
				{name: "mfa in the command", tok: mfa, form: sms(sid("6"), "launch t3.micro code "+code), wantCode: 200, wantText: "Launched 1 instance(s)", wantLaunch: 1},
				{name: "wrong auth token", tok: tok, form: sms(sid("7"), "launch"), signToken: "not-the-auth-token", wantCode: 401, wantErr: "signature_invalid"},
				{name: "signed for another URL", tok: tok, form: sms(sid("8"), "launch"), signURL: "https://attacker.example/hooks/x/twilio", wantCode: 401, wantErr: "signature_invalid"},
				{name: "not an SMS", tok: tok, form: url.Values{"Body": {"launch"}}, wantCode: 400, wantErr: "invalid_request"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					hook := tt.tok["url"].(string) + "/twilio"
					signURL, signToken := hook, hookTwilioToken
					if tt.signURL != "" {
						signURL = tt.signURL
					}
					if tt.signToken != "" {
						signToken = tt.signToken
					}
					before := s.liveInstances()
					status, ctype, raw := s.post(t, hook, "application/x-www-form-urlencoded", tt.form.Encode(),
						map[string]string{"X-Twilio-Signature": twilioSign(signToken, signURL, tt.form)})
					if status != tt.wantCode {
						t.Fatalf("POST twilio %q = %d %s; want %d", tt.name, status, raw, tt.wantCode)
					}
					if tt.wantErr != "" && !strings.Contains(raw, `"error":"`+tt.wantErr+`"`) {
						t.Fatalf("POST twilio %q = %s; want %s", tt.name, raw, tt.wantErr)
					}
					if tt.wantText != "" && (!strings.HasPrefix(ctype, "text/xml") || !strings.Contains(raw, "<Response><Message>") || !strings.Contains(raw, tt.wantText)) {
						t.Fatalf("POST twilio %q = %s %s; want TwiML saying %q", tt.name, ctype, raw, tt.wantText)
					}
					if got := s.liveInstances() - before; got != tt.wantLaunch {
						t.Errorf("POST twilio %q launched %d; want %d", tt.name, got, tt.wantLaunch)
					}
					if strings.Contains(raw, code) || strings.Contains(raw, hookTwilioToken) {
						t.Errorf("reply echoes a code or a secret: %s", raw)
					}
				})
			}
		})
	}
}

// TestMailgunHook sends inbound-route forms signed with timestamp+token.
func TestMailgunHook(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startHookStack(t, backend)
			tok := s.createToken(t, `{"name":"mail","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
			hook := tok["url"].(string) + "/mailgun"
			mail := func(token string, at time.Time, key, subject, body string) url.Values {
				ts := unix(at)
				return url.Values{"timestamp": {ts}, "token": {token}, "signature": {mailgunSign(key, ts, token)},
					"sender": {"alice@example.com"}, "subject": {subject}, "body-plain": {body}}
			}
			tk := func(n string) string { return strings.Repeat("a", 50-len(n)) + n }
			now := time.Now()
			tests := []struct {
				name       string
				form       url.Values
				multipart  bool
				wantCode   int
				wantErr    string
				wantText   string
				wantLaunch int
			}{
				{name: "command in the subject", form: mail(tk("1"), now, hookMailgunKey, "Re: launch 1 t3.micro", "> old\nthanks"), wantCode: 200, wantText: "Launched 1 instance(s)", wantLaunch: 1},
				{name: "replayed token", form: mail(tk("1"), now, hookMailgunKey, "status", ""), wantCode: 409, wantErr: "signature_replayed"},
				{name: "first unquoted body line", form: mail(tk("2"), now, hookMailgunKey, "hello", "> launch 3\n\nstatus\n-- \nAlice"), wantCode: 200, wantText: "1 instance(s) in us-east-1"},
				{name: "multipart", form: mail(tk("3"), now, hookMailgunKey, "status", ""), multipart: true, wantCode: 200, wantText: "instance(s) in us-east-1"},
				{name: "help", form: mail(tk("4"), now, hookMailgunKey, "", ""), wantCode: 200, wantText: "spotter commands"},
				{name: "not a command", form: mail(tk("5"), now, hookMailgunKey, "lunch?", "see you at noon"), wantCode: 400, wantErr: "invalid_request"},
				{name: "stale", form: mail(tk("6"), now.Add(-6*time.Minute), hookMailgunKey, "launch", ""), wantCode: 401, wantErr: "signature_expired"},
				{name: "bad signature", form: mail(tk("7"), now, "another-key-000000", "launch", ""), wantCode: 401, wantErr: "signature_invalid"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					body, ctype := tt.form.Encode(), "application/x-www-form-urlencoded"
					if tt.multipart {
						var b bytes.Buffer
						w := multipart.NewWriter(&b)
						for k, v := range tt.form {
							_ = w.WriteField(k, v[0])
						}
						fw, _ := w.CreateFormFile("attachment-1", "notes.txt")
						_, _ = fw.Write([]byte("launch 3 t3.small"))
						_ = w.Close()
						body, ctype = b.String(), w.FormDataContentType()
					}
					before := s.liveInstances()
					code, _, raw := s.post(t, hook, ctype, body, nil)
					var v map[string]any
					_ = json.Unmarshal([]byte(raw), &v)
					if code != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
						t.Fatalf("POST mailgun %q = %d %s; want %d %s", tt.name, code, raw, tt.wantCode, tt.wantErr)
					}
					if text, _ := v["text"].(string); tt.wantText != "" && !strings.Contains(text, tt.wantText) {
						t.Fatalf("POST mailgun %q = %s; want text %q", tt.name, raw, tt.wantText)
					}
					if got := s.liveInstances() - before; got != tt.wantLaunch {
						t.Errorf("POST mailgun %q launched %d; want %d", tt.name, got, tt.wantLaunch)
					}
				})
			}
		})
	}
}

// TestIFTTTHook sends what an applet sends: JSON or a form, the secret in a
// header or a field, a task or command text, ingredients left unreplaced.
func TestIFTTTHook(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startHookStack(t, backend)
			tok := s.createToken(t, `{"name":"ifttt","credentials":`+keysJSON()+`,"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
			hook := tok["url"].(string) + "/ifttt"
			secretHdr := map[string]string{"X-Spotter-Ifttt-Secret": hookIFTTTSecret}
			tests := []struct {
				name       string
				ctype      string
				body       string
				hdr        map[string]string
				wantCode   int
				wantErr    string
				wantText   string
				wantLaunch int
			}{
				{name: "command in value1, secret header", ctype: "application/json", body: `{"value1":"launch 1 t3.micro","value2":"{{FromNumber}}","occurredAt":"{{OccurredAt}}"}`,
					hdr: map[string]string{"X-Spotter-Ifttt-Secret": hookIFTTTSecret, "Idempotency-Key": "sms-1"}, wantCode: 200, wantText: "Launched 1 instance(s)", wantLaunch: 1},
				{name: "same idempotency key", ctype: "application/json", body: `{"value1":"launch 1 t3.micro"}`,
					hdr: map[string]string{"X-Spotter-Ifttt-Secret": hookIFTTTSecret, "Idempotency-Key": "sms-1"}, wantCode: 200, wantText: "Already launched"},
				{name: "native task, secret field, ingredients", ctype: "application/json", body: `{"secret":"` + hookIFTTTSecret + `","task":"status","region":"{{Region}}"}`, wantCode: 200, wantText: "instance(s) in us-east-1"},
				{name: "form", ctype: "application/x-www-form-urlencoded", body: url.Values{"secret": {hookIFTTTSecret}, "value1": {"status"}}.Encode(), wantCode: 200, wantText: "instance(s) in us-east-1"},
				{name: "unreplaced value1 and nothing else", ctype: "application/json", body: `{"value1":"{{Text}}"}`, hdr: secretHdr, wantCode: 400, wantErr: "invalid_request"},
				{name: "unknown words", ctype: "application/json", body: `{"value1":"launch lots"}`, hdr: secretHdr, wantCode: 400, wantErr: "invalid_request"},
				{name: "wrong secret", ctype: "application/json", body: `{"value1":"launch"}`, hdr: map[string]string{"X-Spotter-Ifttt-Secret": strings.Repeat("x", 38)}, wantCode: 401, wantErr: "signature_invalid"},
				{name: "no secret", ctype: "application/json", body: `{"value1":"launch"}`, wantCode: 401, wantErr: "signature_invalid"},
				{name: "ingredient as secret", ctype: "application/json", body: `{"value1":"launch","secret":"{{Secret}}"}`, wantCode: 401, wantErr: "signature_invalid"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := s.liveInstances()
					code, _, raw := s.post(t, hook, tt.ctype, tt.body, tt.hdr)
					var v map[string]any
					_ = json.Unmarshal([]byte(raw), &v)
					if code != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
						t.Fatalf("POST ifttt %q = %d %s; want %d %s", tt.name, code, raw, tt.wantCode, tt.wantErr)
					}
					if text, _ := v["text"].(string); tt.wantText != "" && !strings.Contains(text, tt.wantText) {
						t.Fatalf("POST ifttt %q = %s; want text %q", tt.name, raw, tt.wantText)
					}
					if got := s.liveInstances() - before; got != tt.wantLaunch {
						t.Errorf("POST ifttt %q launched %d; want %d", tt.name, got, tt.wantLaunch)
					}
					if strings.Contains(raw, hookIFTTTSecret) {
						t.Errorf("reply echoes the secret: %s", raw)
					}
				})
			}
		})
	}
}
