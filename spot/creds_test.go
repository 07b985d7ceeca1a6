package spot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
)

var simKeys = Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey}

func (e *env) code(t *testing.T) string {
	t.Helper()
	c, err := awssim.TOTP(awssim.DefaultMFASecret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func wrongCode(good string) string {
	if good == "000000" {
		return "111111"
	}
	return "000000"
}

func TestSessionMFA(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		creds    Credentials
		mfa      func(e *env) MFA
		setup    func(t *testing.T, e *env)
		wantCode string
		// STS calls this Session must make, exactly.
		wantGST, wantAssume int
	}{
		{
			name:    "valid code",
			creds:   simKeys,
			mfa:     func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), e.code(t)} },
			wantGST: 1,
		},
		{
			name:     "wrong code",
			creds:    simKeys,
			mfa:      func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), wrongCode(e.code(t))} },
			wantCode: apperr.MFAInvalid,
			wantGST:  1,
		},
		{
			name:  "reused code",
			creds: simKeys,
			mfa:   func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), e.code(t)} },
			setup: func(t *testing.T, e *env) {
				if _, err := e.client.Session(ctx, "tokA", simKeys, MFA{e.sim.DefaultMFASerial(), e.code(t)}, region); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: apperr.MFAInvalid,
			wantGST:  1,
		},
		{
			name:     "missing code",
			creds:    simKeys,
			mfa:      func(e *env) MFA { return MFA{SerialNumber: e.sim.DefaultMFASerial()} },
			wantCode: apperr.MFARequired,
		},
		{
			name:     "malformed code never sent",
			creds:    simKeys,
			mfa:      func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), "12ab56"} },
			wantCode: apperr.MFAInvalid,
		},
		{
			name:  "STS failure is not retried with a code",
			creds: simKeys,
			mfa:   func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), e.code(t)} },
			setup: func(t *testing.T, e *env) {
				if err := e.sim.InjectFault("GetSessionToken", "ServiceUnavailable", 1, 0); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: apperr.AWSUnavailable,
			wantGST:  1,
		},
		{
			name:  "throttled AssumeRole without a code is retried",
			creds: Credentials{AccessKeyID: simKeys.AccessKeyID, SecretAccessKey: simKeys.SecretAccessKey, RoleARN: "arn:aws:iam::123456789012:role/spot", ExternalID: "ext-1"},
			mfa:   func(e *env) MFA { return MFA{} },
			setup: func(t *testing.T, e *env) {
				if err := e.sim.InjectFault("AssumeRole", "Throttling", 1, 2); err != nil {
					t.Fatal(err)
				}
			},
			wantAssume: 3,
		},
		{
			name:  "throttled STS call with a code is not retried",
			creds: simKeys,
			mfa:   func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), e.code(t)} },
			setup: func(t *testing.T, e *env) {
				if err := e.sim.InjectFault("GetSessionToken", "Throttling", 1, 0); err != nil {
					t.Fatal(err)
				}
			},
			wantCode: apperr.AWSThrottled,
			wantGST:  1,
		},
		{
			name:  "no MFA uses the keys as they are",
			creds: simKeys,
			mfa:   func(e *env) MFA { return MFA{} },
		},
		{
			name:       "role chained after MFA session",
			creds:      Credentials{AccessKeyID: simKeys.AccessKeyID, SecretAccessKey: simKeys.SecretAccessKey, RoleARN: "arn:aws:iam::123456789012:role/spot", ExternalID: "ext-1"},
			mfa:        func(e *env) MFA { return MFA{e.sim.DefaultMFASerial(), e.code(t)} },
			wantGST:    1,
			wantAssume: 1,
		},
		{
			name:       "role with wrong external id",
			creds:      Credentials{AccessKeyID: simKeys.AccessKeyID, SecretAccessKey: simKeys.SecretAccessKey, RoleARN: "arn:aws:iam::123456789012:role/spot", ExternalID: "nope"},
			mfa:        func(e *env) MFA { return MFA{} },
			wantCode:   apperr.AWSAuthFailed,
			wantAssume: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			if err := e.sim.RegisterRole(awssim.Role{ARN: "arn:aws:iam::123456789012:role/spot", ExternalID: "ext-1"}); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, e)
			}
			gst0, ar0 := e.callCount("GetSessionToken"), e.callCount("AssumeRole")
			p, err := e.client.Session(ctx, "tokA", tt.creds, tt.mfa(e), region)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
			} else if err != nil {
				t.Fatalf("Session = %v", err)
			}
			if got := e.callCount("GetSessionToken") - gst0; got != tt.wantGST {
				t.Errorf("GetSessionToken sent %d times; want %d", got, tt.wantGST)
			}
			if got := e.callCount("AssumeRole") - ar0; got != tt.wantAssume {
				t.Errorf("AssumeRole sent %d times; want %d", got, tt.wantAssume)
			}
			if err != nil {
				if d := apperr.Details(err); strings.Contains(d, simKeys.AccessKeyID) || strings.Contains(d, simKeys.SecretAccessKey) {
					t.Errorf("details %q reveal a key", d)
				}
				return
			}
			checkSession(t, e, p, tt.creds, tt.wantGST > 0, tt.wantAssume > 0)
		})
	}
}

// checkSession proves what a good session asked STS for (the shortest
// MFA session; a role session named for the token, with its external id,
// of at most an hour) and that it works for EC2.
func checkSession(t *testing.T, e *env, p aws.CredentialsProvider, creds Credentials, gst, assume bool) {
	t.Helper()
	if q := e.lastCall("GetSessionToken"); gst && q.Get("DurationSeconds") != "900" {
		t.Errorf("GetSessionToken DurationSeconds = %q; want 900", q.Get("DurationSeconds"))
	}
	if q := e.lastCall("AssumeRole"); assume {
		if q.Get("RoleSessionName") != "spotter-tokA" || q.Get("ExternalId") != creds.ExternalID || atoi(q.Get("DurationSeconds")) > 3600 {
			t.Errorf("AssumeRole sent %v", q)
		}
	}
	if _, err := e.client.Status(context.Background(), p, region, "tokA", nil); err != nil {
		t.Errorf("Status with the session = %v", err)
	}
}

// TestSessionRoleWithoutKeys assumes a role that requires MFA with
// spotter's own identity: the code goes to AssumeRole, once.
func TestSessionRoleWithoutKeys(t *testing.T) {
	e := mustEnv(t)
	const arn = "arn:aws:iam::123456789012:role/mfa"
	if err := e.sim.RegisterRole(awssim.Role{ARN: arn, RequireMFA: true}); err != nil {
		t.Fatal(err)
	}
	creds := Credentials{RoleARN: arn}
	if _, err := e.client.Session(context.Background(), "tokA", creds, MFA{}, region); apperr.Code(err) != apperr.AWSAuthFailed {
		t.Errorf("Session without a service identity = %v; want aws_auth_failed", err)
	}
	cfg := e.client.cfg
	cfg.ServiceCredentials = e.creds
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serial := e.sim.DefaultMFASerial()
	if _, err := c.Session(context.Background(), "tokA", creds, MFA{serial, wrongCode(e.code(t))}, region); apperr.Code(err) != apperr.MFAInvalid {
		t.Errorf("Session with a wrong code = %v; want mfa_invalid", err)
	}
	if _, err := c.Session(context.Background(), "tokA", creds, MFA{serial, e.code(t)}, region); err != nil {
		t.Errorf("Session with a good code = %v", err)
	}
	if q := e.lastCall("AssumeRole"); q.Get("TokenCode") == "" || e.callCount("GetSessionToken") != 0 || e.callCount("AssumeRole") != 2 {
		t.Errorf("AssumeRole calls %d, GetSessionToken %d; want the code on AssumeRole", e.callCount("AssumeRole"), e.callCount("GetSessionToken"))
	}
}

func TestCredentialsRedacted(t *testing.T) {
	creds := Credentials{AccessKeyID: "AKIDLEAKCHECK0001", SecretAccessKey: "s3cr3t-leak-check", SessionToken: "sess-leak-check", RoleARN: "arn:aws:iam::1:role/r", ExternalID: "ext-leak-check"}
	mfa := MFA{SerialNumber: "arn:aws:iam::1:mfa/u", Code: "424242"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "creds", creds, "mfa", mfa)
	js, _ := json.Marshal(struct {
		C Credentials
		M MFA
	}{creds, mfa})
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", creds, creds, creds, creds, mfa, mfa, mfa) + buf.String() + string(js)
	for _, secret := range []string{"AKIDLEAKCHECK0001", "s3cr3t-leak-check", "sess-leak-check", "ext-leak-check", "424242"} {
		if strings.Contains(out, secret) {
			t.Errorf("output reveals %q: %s", secret, out)
		}
	}
}
