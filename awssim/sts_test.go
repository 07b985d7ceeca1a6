package awssim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/awssim"
)

func TestGetCallerIdentity(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.sts.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got, want := aws.ToString(out.Arn), w.sim.DefaultUserARN(); got != want {
		t.Errorf("Arn = %q; want %q", got, want)
	}
	if got, want := aws.ToString(out.Account), awssim.DefaultAccountID; got != want {
		t.Errorf("Account = %q; want %q", got, want)
	}
	if aws.ToString(out.UserId) == "" {
		t.Error("UserId is empty")
	}
}

func TestGetSessionTokenMFA(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	serial := w.sim.DefaultMFASerial()
	code := func(at time.Time) string {
		c, err := awssim.TOTP(awssim.DefaultMFASecret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	valid := code(w.clock.Now())
	wrong := "000000"
	if wrong == valid {
		wrong = "111111"
	}
	tests := []struct {
		name     string
		serial   string
		code     string
		duration int32
		wantCode string
		wantHTTP int
	}{
		{name: "valid code", serial: serial, code: valid, duration: 900},
		{name: "reused code", serial: serial, code: valid, duration: 900, wantCode: "AccessDenied", wantHTTP: http.StatusForbidden},
		{name: "wrong code", serial: serial, code: wrong, duration: 900, wantCode: "AccessDenied", wantHTTP: http.StatusForbidden},
		{name: "missing code", serial: serial, duration: 900, wantCode: "AccessDenied", wantHTTP: http.StatusForbidden},
		{name: "unknown device", serial: "arn:aws:iam::123456789012:mfa/nobody", code: valid, duration: 900, wantCode: "AccessDenied", wantHTTP: http.StatusForbidden},
		{name: "too short", duration: 899, wantCode: "ValidationError", wantHTTP: http.StatusBadRequest},
		{name: "too long", duration: 129601, wantCode: "ValidationError", wantHTTP: http.StatusBadRequest},
		{name: "no MFA at the maximum", duration: 129600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(tt.duration)}
			if tt.serial != "" {
				in.SerialNumber = aws.String(tt.serial)
			}
			if tt.code != "" {
				in.TokenCode = aws.String(tt.code)
			}
			out, err := w.sts.GetSessionToken(ctx(t), in)
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, tt.wantHTTP)
				return
			}
			if err != nil {
				t.Fatalf("GetSessionToken: %v", err)
			}
			cr := out.Credentials
			if got, want := aws.ToTime(cr.Expiration), w.clock.Now().Add(time.Duration(tt.duration)*time.Second); !got.Equal(want) {
				t.Errorf("Expiration = %v; want %v", got, want)
			}
			// The session keys must work and act as the same user.
			e, s := w.clients(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken), "us-east-1")
			id, err := s.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity with session: %v", err)
			}
			if got, want := aws.ToString(id.Arn), w.sim.DefaultUserARN(); got != want {
				t.Errorf("session Arn = %q; want %q", got, want)
			}
			if _, err := e.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
				t.Errorf("DescribeInstances with session: %v", err)
			}
			_, err = s.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{})
			wantErr(t, err, "AccessDenied", http.StatusForbidden)
		})
	}
	// The next 30-second step brings a fresh code, which is accepted.
	w.clock.Advance(30 * time.Second)
	if _, err := w.sts.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{SerialNumber: aws.String(serial), TokenCode: aws.String(code(w.clock.Now()))}); err != nil {
		t.Errorf("GetSessionToken with the next code: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.sts.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	e, s := w.clients(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken), "us-east-1")
	w.clock.Advance(901 * time.Second)
	_, err = e.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	wantErr(t, err, "RequestExpired", http.StatusBadRequest)
	_, err = s.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantErr(t, err, "ExpiredToken", http.StatusForbidden)

	// A session key this Sim never issued is refused.
	e2, s2 := w.clients("ASIAUNKNOWN0000000", "secret", "token", "us-east-1")
	_, err = s2.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId", http.StatusForbidden)
	_, err = e2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	wantErr(t, err, "AuthFailure", http.StatusUnauthorized)
}

func TestAssumeRole(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	const guarded = "arn:aws:iam::123456789012:role/guarded"
	if err := w.sim.RegisterRole(awssim.Role{ARN: guarded, ExternalID: "ext-1", RequireMFA: true, MaxSessionDuration: 4 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	code, _ := awssim.TOTP(awssim.DefaultMFASecret, w.clock.Now())
	tests := []struct {
		name       string
		arn        string
		externalID string
		mfa        bool
		duration   int32
		wantCode   string
	}{
		{name: "open role", arn: "arn:aws:iam::123456789012:role/open", duration: 3600},
		{name: "open role beyond its hour", arn: "arn:aws:iam::123456789012:role/open", duration: 3601, wantCode: "ValidationError"},
		{name: "other account", arn: "arn:aws:iam::210987654321:role/open", duration: 900, wantCode: "AccessDenied"},
		{name: "guarded without external id", arn: guarded, mfa: true, duration: 900, wantCode: "AccessDenied"},
		{name: "guarded without MFA", arn: guarded, externalID: "ext-1", duration: 900, wantCode: "AccessDenied"},
		{name: "guarded with both", arn: guarded, externalID: "ext-1", mfa: true, duration: 4 * 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.arn), RoleSessionName: aws.String("test-session"), DurationSeconds: aws.Int32(tt.duration)}
			if tt.externalID != "" {
				in.ExternalId = aws.String(tt.externalID)
			}
			if tt.mfa {
				in.SerialNumber, in.TokenCode = aws.String(w.sim.DefaultMFASerial()), aws.String(code)
			}
			out, err := w.sts.AssumeRole(ctx(t), in)
			if tt.wantCode != "" {
				c, _ := apiErr(t, err)
				if c != tt.wantCode {
					t.Fatalf("AssumeRole error = %s; want %s (%v)", c, tt.wantCode, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			if got := aws.ToString(out.AssumedRoleUser.Arn); got == "" || got[len(got)-len("/test-session"):] != "/test-session" {
				t.Errorf("AssumedRoleUser.Arn = %q; want it to end with the session name", got)
			}
			_, s := w.clients(aws.ToString(out.Credentials.AccessKeyId), aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken), "us-east-1")
			id, err := s.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := aws.ToString(id.Arn), aws.ToString(out.AssumedRoleUser.Arn); got != want {
				t.Errorf("caller Arn = %q; want %q", got, want)
			}
			// Role chaining caps the session at one hour.
			_, err = s.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/next"), RoleSessionName: aws.String("chained"), DurationSeconds: aws.Int32(3601)})
			wantErr(t, err, "ValidationError", http.StatusBadRequest)
			if _, err := s.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/next"), RoleSessionName: aws.String("chained"), DurationSeconds: aws.Int32(3600)}); err != nil {
				t.Errorf("chained AssumeRole for an hour: %v", err)
			}
		})
	}
}
