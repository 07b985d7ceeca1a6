package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/token"
)

// mfaSource sends a status command carrying an MFA code through one way a
// code enters spotter.
type mfaSource struct {
	name string
	// inBand sources (Slack, Twilio) answer a verified caller 200 in their
	// own format and put a refusal in the text.
	inBand bool
	send   func(t *testing.T, s *hookStack, tok map[string]any, code string) (status int, retryAfter, body string)
}

var mfaSeq atomic.Int64

func uniq(n int) string {
	v := strconv.FormatInt(mfaSeq.Add(1)+time.Now().UnixNano()%1e6*1000, 10)
	return strings.Repeat("0", max(0, n-len(v))) + v
}

// postRaw is hookStack.post that also returns Retry-After.
func postRaw(t *testing.T, s *hookStack, u, ctype, body string, hdr map[string]string) (int, string, string) {
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
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), b.String()
}

func mfaSources() []mfaSource {
	native := func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
		return postRaw(t, s, tok["url"].(string), "application/json", `{"task":"status","mfaCode":"`+code+`"}`, nil)
	}
	return []mfaSource{
		{name: "native", send: native},
		{name: "wt-spotter", send: func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
			body := `{"construct":{"keys":{"region":"us-east-1"},"upgrade":{"tokenCode":"` + code + `"}},"attributes":{"task":"status"}}`
			return postRaw(t, s, tok["url"].(string), "application/json", body, nil)
		}},
		{name: "slack", inBand: true, send: func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
			body := slackForm("status code "+code, s.respBase+"mfa", "1.2."+uniq(6))
			return postRaw(t, s, tok["url"].(string)+"/slack", "application/x-www-form-urlencoded", body, slackSign(hookSlackSecret, unix(time.Now()), body))
		}},
		{name: "twilio", inBand: true, send: func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
			hook := tok["url"].(string) + "/twilio"
			form := url.Values{"MessageSid": {"SM" + uniq(32)}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
				"From": {"+14158675309"}, "To": {"+18005551212"}, "Body": {"status code " + code}}
			return postRaw(t, s, hook, "application/x-www-form-urlencoded", form.Encode(),
				map[string]string{"X-Twilio-Signature": twilioSign(hookTwilioToken, hook, form)})
		}},
		{name: "mailgun", send: func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
			ts, mt := unix(time.Now()), "m"+uniq(49)
			form := url.Values{"timestamp": {ts}, "token": {mt}, "signature": {mailgunSign(hookMailgunKey, ts, mt)},
				"sender": {"alice@example.com"}, "subject": {"status code " + code}, "body-plain": {""}}
			return postRaw(t, s, tok["url"].(string)+"/mailgun", "application/x-www-form-urlencoded", form.Encode(), nil)
		}},
		{name: "ifttt", send: func(t *testing.T, s *hookStack, tok map[string]any, code string) (int, string, string) {
			return postRaw(t, s, tok["url"].(string)+"/ifttt", "application/json", `{"value1":"status code `+code+`"}`,
				map[string]string{"X-Spotter-Ifttt-Secret": hookIFTTTSecret})
		}},
	}
}

// TestMFALockoutEverySource: wherever a code enters — the native and
// wt-spotter bodies, Slack, Twilio, Mailgun, IFTTT, and an AWS MFA code on
// its way to STS — exactly MaxMFAFailures wrong codes lock the token on
// every source at once; a right code is then refused and stays unspent
// (STS never sees it); Retry-After says how long; the admin unlocks.
func TestMFALockoutEverySource(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startHookStack(t, backend)
			var secrets []string
			for _, src := range append(mfaSources(), mfaSource{name: "aws mfa via STS"}) {
				t.Run(src.name, func(t *testing.T) {
					var tok map[string]any
					var secret string
					send := src.send
					if src.send == nil { // AWS MFA: the code goes to awssim's STS
						tok = s.createToken(t, `{"name":"aws mfa","credentials":`+keysJSON()+`,"mfa":{"serialNumber":"`+s.sim.DefaultMFASerial()+`"},"policy":`+hookPolicy+`}`)
						secret, send = awssim.DefaultMFASecret, mfaSources()[0].send
					} else {
						tok = s.createToken(t, `{"name":"mfa `+src.name+`","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+hookPolicy+`,"sources":`+hookSourcesJSON+`}`)
						secret = tok["totp"].(map[string]any)["secret"].(string)
						secrets = append(secrets, secret)
					}
					id := tok["id"].(string)
					wrong := e2e.WrongTOTPCodes(t, secret, token.MaxMFAFailures)
					// outcome reads the stable error code, or for in-band
					// sources the kind of refusal the text gives.
					outcome := func(status int, body string) string {
						if strings.Contains(body, secret) || strings.Contains(body, tok["token"].(string)) {
							t.Errorf("reply holds a secret: %s", body)
						}
						if src.inBand {
							switch {
							case status != 200:
								return "HTTP " + strconv.Itoa(status)
							case strings.Contains(body, "spotter token unlock "+id):
								return "mfa_locked"
							case strings.Contains(body, "MFA: the MFA code is wrong"):
								return "mfa_invalid"
							case strings.Contains(body, "No instances running"):
								return "ok"
							}
							return body
						}
						var v map[string]any
						_ = json.Unmarshal([]byte(body), &v)
						if status == 200 {
							return "ok"
						}
						if e, _ := v["error"].(string); e != "" && v["code"] == float64(status) {
							return e
						}
						return body
					}
					wantStatus := map[string]int{"mfa_invalid": 401, "mfa_locked": 429, "ok": 200}
					expect := func(what, code, want string) (retryAfter string) {
						t.Helper()
						status, ra, body := send(t, s, tok, code)
						if got := outcome(status, body); got != want || (!src.inBand && status != wantStatus[want]) {
							t.Fatalf("%s = %d %s; want %s", what, status, body, want)
						}
						return ra
					}
					for i := range token.MaxMFAFailures - 1 {
						expect(fmt.Sprintf("wrong code %d of %d", i+1, token.MaxMFAFailures), wrong[i], "mfa_invalid")
					}
					ra := expect(fmt.Sprintf("wrong code %d", token.MaxMFAFailures), wrong[token.MaxMFAFailures-1], "mfa_locked")
					if !src.inBand && ra != "60" {
						t.Errorf("Retry-After on the lockout = %q; want 60", ra)
					}
					right := e2e.TOTPCode(t, secret)
					ra = expect("the right code while locked", right, "mfa_locked")
					if n, err := strconv.Atoi(ra); !src.inBand && (err != nil || n < 1 || n > 60) {
						t.Errorf("Retry-After while locked = %q; want 1..60 seconds", ra)
					}
					// The lock is the token's, not the source's.
					if code, v, raw := s.task(t, tok["url"].(string), `{"task":"status","mfaCode":"`+right+`"}`, nil); code != 429 || v["error"] != "mfa_locked" {
						t.Fatalf("the right code on the native URL while locked = %d %s; want 429 mfa_locked", code, raw)
					}
					code, v, raw := call(t, s.client, "GET", s.base+"/v1/tokens/"+id, testAdminToken, "", nil)
					lock, _ := v["mfaLock"].(map[string]any)
					if code != 200 || lock["locked"] != true || lock["failures"] != float64(token.MaxMFAFailures) || lock["lockedUntil"] == nil {
						t.Fatalf("token show while locked = %d %s; want mfaLock locked with %d failures", code, raw, token.MaxMFAFailures)
					}
					code, v, raw = call(t, s.client, "POST", s.base+"/v1/tokens/"+id+"/unlock", testAdminToken, "", nil)
					if code != 200 || v["wasLocked"] != true {
						t.Fatalf("unlock = %d %s; want 200 wasLocked", code, raw)
					}
					// Unspent: STS and the TOTP replay guard both refuse a code they saw.
					expect("the same right code after unlock", right, "ok")
					if _, v, _ := call(t, s.client, "GET", s.base+"/v1/tokens/"+id, testAdminToken, "", nil); v["mfaLock"].(map[string]any)["locked"] != false {
						t.Errorf("token show after unlock: mfaLock %v; want unlocked", v["mfaLock"])
					}
				})
			}
			if n := s.liveInstances(); n != 0 {
				t.Errorf("%d instances launched by status requests", n)
			}
			resp, err := s.client.Get(s.base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			var m strings.Builder
			buf := make([]byte, 1<<16)
			for {
				n, err := resp.Body.Read(buf)
				m.Write(buf[:n])
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			for _, want := range []string{
				`spotter_mfa_lockouts_total{mfa="totp"} 6`, `spotter_mfa_lockouts_total{mfa="aws"} 1`,
				`spotter_mfa_attempts_total{mfa="totp",outcome="failed"} 30`, `spotter_mfa_attempts_total{mfa="aws",outcome="failed"} 5`,
				`spotter_mfa_attempts_total{mfa="totp",outcome="ok"} 6`, `spotter_mfa_attempts_total{mfa="aws",outcome="ok"} 1`,
			} {
				if !strings.Contains(m.String(), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			logs := s.logs.String()
			if n := strings.Count(logs, "capability token MFA locked"); n != 7 {
				t.Errorf("%d lockout audit events in the log; want 7", n)
			}
			for _, secret := range secrets {
				if strings.Contains(logs, secret) {
					t.Errorf("a TOTP secret reached the log")
				}
			}
		})
	}
}
