package awssim_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/awssim"
)

// TestRegisteredUserSignatures: a user added with AddUser is who its key
// signs as, and only with its secret; the lenient default user is unchanged.
func TestRegisteredUserSignatures(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	const ak, secret = "AKIASPOTTERSERVICE01", "service-secret-0123456789abcdefghijklmn"
	if err := w.sim.AddUser(awssim.User{Name: "spotter-service", AccessKeyID: ak, SecretAccessKey: secret}); err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::" + awssim.DefaultAccountID + ":role/spotter-ci"
	tests := []struct {
		name     string
		ak       string
		secret   string
		wantARN  string
		wantCode string
		wantHTTP int
	}{
		{name: "registered, right secret", ak: ak, secret: secret, wantARN: "arn:aws:iam::" + awssim.DefaultAccountID + ":user/spotter-service"},
		{name: "registered, wrong secret", ak: ak, secret: secret + "x", wantCode: "SignatureDoesNotMatch", wantHTTP: http.StatusForbidden},
		{name: "default user, any secret", ak: awssim.DefaultAccessKeyID, secret: "anything-at-all", wantARN: w.sim.DefaultUserARN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, s := w.clients(tt.ak, tt.secret, "", "us-east-1")
			out, err := s.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
			_, aerr := s.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("test")})
			_, eerr := e.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0", "i-0123456789abcdef1"}})
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, tt.wantHTTP)
				wantErr(t, aerr, tt.wantCode, tt.wantHTTP)
				wantErr(t, eerr, "AuthFailure", http.StatusUnauthorized)
				return
			}
			if err != nil || aerr != nil {
				t.Fatalf("GetCallerIdentity = %v; AssumeRole = %v", err, aerr)
			}
			if got := aws.ToString(out.Arn); got != tt.wantARN {
				t.Errorf("Arn = %q; want %q", got, tt.wantARN)
			}
			if code, _ := apiErr(t, eerr); code == "AuthFailure" {
				t.Errorf("a correctly signed EC2 call was refused: %v", eerr)
			}
		})
	}
}

// TestAssumeRoleUnsigned: a client with no credentials at all cannot assume
// a role (AWS answers MissingAuthenticationToken).
func TestAssumeRoleUnsigned(t *testing.T) {
	sim := awssim.New(awssim.Options{})
	body := "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::" + awssim.DefaultAccountID + ":role/x&RoleSessionName=test"
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "<Code>MissingAuthenticationToken</Code>") {
		t.Fatalf("unsigned AssumeRole = %d %s; want 403 MissingAuthenticationToken", rec.Code, rec.Body)
	}
}
