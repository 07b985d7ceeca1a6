package app_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/token"
)

// readmeRoleToken is the README's role example, as written there.
const readmeRoleToken = `{
  "name": "ci runners",
  "credentials": {"roleArn": "arn:aws:iam::123456789012:role/spotter-ci", "externalId": "ci-7"},
  "mfa": {"totp": true},
  "requireSignature": true,
  "expiresIn": "720h",
  "policy": {"regions": ["us-east-1"], "instanceTypes": ["c5.*", "m5.large"], "amis": ["ami-0abc12345678"],
             "maxCount": 4, "maxRunning": 8, "maxPrice": 0.20, "maxHourlySpend": 1.0,
             "defaultTTL": "1h", "maxTTL": "3h", "onDemandFallback": true, "tags": {"team": "ci"}}
}`

// serviceKey is spotter's own identity in these tests: a user awssim
// knows, whose signatures it verifies.
const serviceKey, serviceSecret = "AKIASPOTTERSERVICE01", "service-secret-0123456789abcdefghijklmn"

// TestRoleOnlyTokenEndToEnd runs the README's role token through serve and
// awssim: spotter assumes the role with its own identity from the standard
// AWS chain (here the environment keys), signing AssumeRole with them; with
// a wrong secret or no identity at all the caller gets aws_auth_failed
// saying what to set.
func TestRoleOnlyTokenEndToEnd(t *testing.T) {
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != "" {
		t.Skip("the process environment has AWS credentials; the no-identity case needs none")
	}
	nowhere := t.TempDir() + "/none"
	hermetic := map[string]string{"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere}
	tests := []struct {
		name       string
		env        map[string]string
		wantCode   int
		wantErr    string
		wantDetail string
	}{
		{name: "own identity from the environment", env: map[string]string{"AWS_ACCESS_KEY_ID": serviceKey, "AWS_SECRET_ACCESS_KEY": serviceSecret}, wantCode: 200},
		{name: "wrong secret", env: map[string]string{"AWS_ACCESS_KEY_ID": serviceKey, "AWS_SECRET_ACCESS_KEY": serviceSecret + "x"}, wantCode: 502, wantErr: "aws_auth_failed"},
		{name: "no identity", env: map[string]string{}, wantCode: 502, wantErr: "aws_auth_failed", wantDetail: "AWS_ACCESS_KEY_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range hermetic {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			s := startStackEnv(t, "embedded", env)
			if err := s.sim.AddUser(awssim.User{Name: "spotter-service", AccessKeyID: serviceKey, SecretAccessKey: serviceSecret}); err != nil {
				t.Fatal(err)
			}
			if err := s.sim.RegisterRole(awssim.Role{ARN: "arn:aws:iam::123456789012:role/spotter-ci", ExternalID: "ci-7"}); err != nil {
				t.Fatal(err)
			}
			tok := s.createToken(t, readmeRoleToken)
			secret := []byte(tok["signingSecret"].(string))
			totpSecret := tok["totp"].(map[string]any)["secret"].(string)
			now := time.Now()
			code, _ := totp.GenerateCodeCustom(totpSecret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			body := `{"task":"launch","instanceTypes":["m5.large"],"mfaCode":"` + code + `"}`
			got, v, raw := s.task(t, tok["url"].(string), body, map[string]string{
				"X-Spotter-Signature": token.Sign(secret, now, []byte(body)), "Idempotency-Key": "role-1"})
			if got != tt.wantCode || (tt.wantErr != "" && v["error"] != tt.wantErr) {
				t.Fatalf("launch with a role token = %d %s; want %d %s", got, raw, tt.wantCode, tt.wantErr)
			}
			if tt.wantDetail != "" && !strings.Contains(v["details"].(string), tt.wantDetail) {
				t.Errorf("details %q do not say what to set (%s)", v["details"], tt.wantDetail)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantCode == 200]; s.liveInstances() != want {
				t.Errorf("%d instances live; want %d", s.liveInstances(), want)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(s.logs.String(), serviceSecret) {
				t.Error("spotter's own secret reached the log")
			}
		})
	}
}

// TestSandboxRoleToken: the sandbox assumes a role-only token's role with
// the emulator's default user, so the README's role example works there.
func TestSandboxRoleToken(t *testing.T) {
	const admin = "sandbox-admin-token-0123456789abcdef"
	base, _, _ := startServe(t, map[string]string{"SPOTTER_ADMIN_TOKEN": admin}, "--sandbox", "--addr", "127.0.0.1:0")
	body := `{"name":"role","credentials":{"roleArn":"arn:aws:iam::123456789012:role/spotter-ci","externalId":"ci-7"},` +
		`"policy":{"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"tasks":["launch","status"]}}`
	code, tok, raw := call(t, http.DefaultClient, "POST", base+"/v1/tokens", admin, "application/json", []byte(body))
	if code != 201 {
		t.Fatalf("create = %d %s", code, raw)
	}
	code, v, raw := call(t, http.DefaultClient, "POST", tok["url"].(string), "", "application/json", []byte(`{"task":"launch"}`))
	if code != 200 || len(v["instances"].([]any)) != 1 {
		t.Fatalf("launch with a role token in the sandbox = %d %s; want one instance", code, raw)
	}
}
