package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCredentialsInputRedacts(t *testing.T) {
	const secret, external = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "ext-canary-0042"
	c := CredentialsInput{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret, RoleARN: "arn:aws:iam::123456789012:role/x", ExternalID: external}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("create", "credentials", c, "ptr", &c)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%v of pointer": fmt.Sprintf("%v", &c), "slog": logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, external) {
			t.Errorf("%s = %s; holds a secret", name, out)
		}
		if !strings.Contains(out, "AKIA…MPLE") {
			t.Errorf("%s = %s; want the masked key AKIA…MPLE", name, out)
		}
	}
}

func TestFlexDecoding(t *testing.T) {
	tests := map[string]struct {
		body      string
		wantPrice FlexPrice
		wantDry   FlexBool
		wantErr   string
	}{
		"numbers":           {body: `{"maxPrice":0.05,"dryRun":true}`, wantPrice: 0.05, wantDry: true},
		"strings":           {body: `{"maxPrice":"0.05","dryRun":"true"}`, wantPrice: 0.05, wantDry: true},
		"empty price":       {body: `{"maxPrice":""}`},
		"false as a string": {body: `{"dryRun":"false"}`},
		"zero price":        {body: `{"maxPrice":0}`, wantErr: "a price of 0 launches nothing"},
		"zero as a string":  {body: `{"maxPrice":"0"}`, wantErr: "a price of 0 launches nothing"},
		"word price":        {body: `{"maxPrice":"cheap"}`, wantErr: "want a finite price"},
		"yes is no bool":    {body: `{"dryRun":"yes"}`, wantErr: "want true or false"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var r TaskRequest
			err := json.Unmarshal([]byte(tt.body), &r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%s) error = %v; want %q", tt.body, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.body, err)
			}
			if r.MaxPrice != tt.wantPrice || r.DryRun != tt.wantDry {
				t.Errorf("Unmarshal(%s) = price %v dryRun %v; want %v %v", tt.body, r.MaxPrice, r.DryRun, tt.wantPrice, tt.wantDry)
			}
		})
	}
}

// TestTaskRequestEncodesPlainly: what a client sends is plain JSON, with
// what it left unset absent (the server reads absent as "the policy's").
func TestTaskRequestEncodesPlainly(t *testing.T) {
	two, off := 2, FlexBool(false)
	b, err := json.Marshal(TaskRequest{Task: TaskLaunch, Count: &two, MaxPrice: 0.05, DryRun: true, OnDemandFallback: &off})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"task":"launch","count":2,"maxPrice":0.05,"dryRun":true,"onDemandFallback":false}`; string(b) != want {
		t.Errorf("Marshal = %s; want %s", b, want)
	}
}

func TestTokenRecordStatus(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		rec  TokenRecord
		now  time.Time
		want string
	}{
		"no expiry":            {rec: TokenRecord{}, now: at, want: StatusActive},
		"a nanosecond before":  {rec: TokenRecord{ExpiresAt: &at}, now: at.Add(-time.Nanosecond), want: StatusActive},
		"exactly at expiry":    {rec: TokenRecord{ExpiresAt: &at}, now: at, want: StatusExpired},
		"revoked, not expired": {rec: TokenRecord{RevokedAt: &at}, now: at.Add(-time.Hour), want: StatusRevoked},
		"revoked and expired":  {rec: TokenRecord{RevokedAt: &at, ExpiresAt: &at}, now: at, want: StatusRevoked},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.rec.Status(tt.now); got != tt.want {
				t.Errorf("Status(%v) = %q; want %q", tt.now, got, tt.want)
			}
		})
	}
}
