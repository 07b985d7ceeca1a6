package app_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/token"
)

const policyJSON = `{"regions":["us-east-1"],"instanceTypes":["t3.micro","t3.small","m5.*"],"amis":["ami-0123456789abcdef0"],"maxCount":3,"maxRunning":4,"maxTTL":"2h","maxPrice":0.5,"tasks":["launch","terminate","status","price","cancel"]}`

func keysJSON() string {
	return `{"accessKeyId":"` + awssim.DefaultAccessKeyID + `","secretAccessKey":"` + awssim.DefaultSecretAccessKey + `"}`
}

// TestTaskGuard sends hostile and valid task requests through HTTPS to a
// real serve: each refusal has its status and stable code, and nothing is
// launched by any of them.
func TestTaskGuard(t *testing.T) {
	for _, backend := range backendsUnderTest() {
		t.Run(backend, func(t *testing.T) {
			s := startStack(t, backend)
			plain := s.createToken(t, `{"name":"plain","credentials":`+keysJSON()+`,"policy":`+policyJSON+`}`)
			signed := s.createToken(t, `{"name":"signed","credentials":`+keysJSON()+`,"requireSignature":true,"policy":`+policyJSON+`}`)
			totpTok := s.createToken(t, `{"name":"totp","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+policyJSON+`}`)
			awsMFA := s.createToken(t, `{"name":"aws mfa","credentials":`+keysJSON()+`,"mfa":{"serialNumber":"`+s.sim.DefaultMFASerial()+`"},"policy":`+policyJSON+`}`)
			revoked := s.createToken(t, `{"name":"revoked","credentials":`+keysJSON()+`,"policy":`+policyJSON+`}`)
			if code, _, raw := call(t, s.client, "DELETE", s.base+"/v1/tokens/"+revoked["id"].(string), testAdminToken, "", nil); code != 200 {
				t.Fatalf("revoke: %d %s", code, raw)
			}

			url := func(tok map[string]any) string { return tok["url"].(string) }
			jwt := plain["token"].(string)
			parts := strings.Split(jwt, ".")
			noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"spotter-capability+jwt"}`)) + "." + parts[1] + "."
			signingSecret := []byte(signed["signingSecret"].(string))
			statusBody := `{"task":"status"}`
			now := time.Now()
			totpSecret := totpTok["totp"].(map[string]any)["secret"].(string)
			totpCode, _ := totp.GenerateCodeCustom(totpSecret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			awsCode, _ := awssim.TOTP(awssim.DefaultMFASecret, now)
			wrong := func(c string) string { return string("0123456789"[(int(c[0]-'0')+1)%10]) + c[1:] }
			launch := `{"task":"launch","instanceTypes":["t3.micro"],"count":1,"idempotencyKey":"k-%s"}`

			tests := []struct {
				name     string
				url      string
				body     string
				hdr      map[string]string
				wantCode int
				wantErr  string
			}{
				{name: "garbage token", url: s.base + "/hooks/not-a-token", body: statusBody, wantCode: 401, wantErr: "token_invalid"},
				{name: "alg none", url: s.base + "/hooks/" + noneTok, body: statusBody, wantCode: 401, wantErr: "token_invalid"},
				{name: "tampered claims", url: s.base + "/hooks/" + parts[0] + "." + parts[1] + "x." + parts[2], body: statusBody, wantCode: 401, wantErr: "token_invalid"},
				{name: "oversized token", url: s.base + "/hooks/" + strings.Repeat("a", 5000), body: statusBody, wantCode: 401, wantErr: "token_invalid"},
				{name: "admin token as capability", url: s.base + "/v1/tasks", body: statusBody, hdr: map[string]string{"Authorization": "Bearer " + testAdminToken}, wantCode: 401, wantErr: "token_invalid"},
				{name: "revoked", url: url(revoked), body: statusBody, wantCode: 401, wantErr: "token_revoked"},
				{name: "malformed body", url: url(plain), body: `{"task":`, wantCode: 400, wantErr: "invalid_request"},
				{name: "unknown task", url: url(plain), body: `{"task":"reboot"}`, wantCode: 400, wantErr: "invalid_request"},
				{name: "unknown field", url: url(plain), body: `{"task":"status","instance_type":"m5.large"}`, wantCode: 400, wantErr: "invalid_request"},
				{name: "huge body", url: url(plain), body: `{"task":"status","tags":{"a":"` + strings.Repeat("x", 70<<10) + `"}}`, wantCode: 413, wantErr: "body_too_large"},
				{name: "policy: type", url: url(plain), body: `{"task":"launch","instanceTypes":["p3.2xlarge"]}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: region", url: url(plain), body: `{"task":"launch","region":"eu-west-1","instanceTypes":["t3.micro"]}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: count", url: url(plain), body: `{"task":"launch","count":9}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: ttl", url: url(plain), body: `{"task":"launch","ttl":"5h"}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: price", url: url(plain), body: `{"task":"launch","maxPrice":"2.5"}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: ami", url: url(plain), body: `{"task":"launch","ami":"ami-0badbadbadbadbad0"}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "policy: user data", url: url(plain), body: `{"task":"launch","userData":"IyEvYmluL3No"}`, wantCode: 403, wantErr: "policy_denied"},
				{name: "signature missing", url: url(signed), body: statusBody, wantCode: 401, wantErr: "signature_invalid"},
				{name: "signature wrong secret", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign([]byte("wrong"), now, []byte(statusBody))}, wantCode: 401, wantErr: "signature_invalid"},
				{name: "signature over another body", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign(signingSecret, now, []byte(`{"task":"launch"}`))}, wantCode: 401, wantErr: "signature_invalid"},
				{name: "signature stale", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign(signingSecret, now.Add(-10*time.Minute), []byte(statusBody))}, wantCode: 401, wantErr: "signature_expired"},
				{name: "signature future", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign(signingSecret, now.Add(10*time.Minute), []byte(statusBody))}, wantCode: 401, wantErr: "signature_expired"},
				{name: "signature valid", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign(signingSecret, now, []byte(statusBody))}, wantCode: 200},
				{name: "signature replayed", url: url(signed), body: statusBody, hdr: map[string]string{"X-Spotter-Signature": token.Sign(signingSecret, now, []byte(statusBody))}, wantCode: 409, wantErr: "signature_replayed"},
				{name: "totp missing", url: url(totpTok), body: statusBody, wantCode: 401, wantErr: "mfa_required"},
				{name: "totp wrong", url: url(totpTok), body: `{"task":"status","mfaCode":"` + wrong(totpCode) + `"}`, wantCode: 401, wantErr: "mfa_invalid"},
				{name: "totp valid", url: url(totpTok), body: `{"task":"status","mfaCode":"` + totpCode + `"}`, wantCode: 200},
				{name: "totp replayed", url: url(totpTok), body: `{"task":"status","mfaCode":"` + totpCode + `"}`, wantCode: 401, wantErr: "mfa_replayed"},
				{name: "aws mfa missing", url: url(awsMFA), body: statusBody, wantCode: 401, wantErr: "mfa_required"},
				{name: "aws mfa wrong", url: url(awsMFA), body: `{"task":"status","mfaCode":"` + wrong(awsCode) + `"}`, wantCode: 401, wantErr: "mfa_invalid"},
				{name: "aws mfa valid", url: url(awsMFA), body: `{"task":"status","mfaCode":"` + awsCode + `"}`, wantCode: 200},
				{name: "aws mfa reused", url: url(awsMFA), body: `{"task":"status","mfaCode":"` + awsCode + `"}`, wantCode: 401, wantErr: "mfa_invalid"},
				{name: "launch refused without mfa", url: url(totpTok), body: strings.Replace(launch, "%s", "1", 1), wantCode: 401, wantErr: "mfa_required"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, v, raw := s.task(t, tt.url, tt.body, tt.hdr)
					if code != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
						t.Fatalf("POST = %d %s; want %d %q", code, raw, tt.wantCode, tt.wantErr)
					}
					if v["code"] != float64(code) {
						t.Errorf("body code %v != status %d", v["code"], code)
					}
					for _, secret := range []string{jwt, string(signingSecret), totpSecret, awssim.DefaultSecretAccessKey} {
						if strings.Contains(raw, secret) {
							t.Errorf("reply holds a secret: %s", raw)
						}
					}
				})
			}
			if n := s.liveInstances(); n != 0 {
				t.Errorf("%d instances launched by refused or read-only requests", n)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{jwt, string(signingSecret), totpSecret, awssim.DefaultSecretAccessKey, parts[2]} {
				if strings.Contains(s.logs.String(), secret) {
					t.Errorf("a secret (%d chars) reached the log", len(secret))
				}
			}
		})
	}
}
