package cli

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/awssim"
)

func TestRunSim(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	const extraSerial = "arn:aws:iam::123456789012:mfa/ci"
	const extraSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	var stdout, stderr syncBuffer // read while runSim writes
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- runSimReady(ctx, []string{"--addr", "127.0.0.1:0", "--seed", "3", "--pending-delay", "0s", "--mfa-device", extraSerial + "=" + extraSecret},
			func(string) string { return "" }, &stdout, &stderr, func(a net.Addr) { addrc <- a })
	}()
	var url string
	select {
	case a := <-addrc:
		url = "http://" + a.String()
	case err := <-done:
		t.Fatalf("runSim exited early: %v; stderr: %s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("runSim did not start listening within 10s")
	}

	for _, want := range []string{url, awssim.DefaultAccountID, awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, awssim.DefaultMFASecret,
		"aws --endpoint-url " + url + " ec2 describe-instances --region us-east-1", "AWS_ENDPOINT_URL_EC2=" + url, "AWS_ENDPOINT_URL_STS=" + url, extraSerial} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stdout.String())
		}
	}

	// The SDK's default retries: they ride out aws-sdk-go-v2 issue 2737 (a
	// connection closed under a 200 answer), which one attempt would not.
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "")}
	ec := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	st := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(url) })
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeT3Micro, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatalf("RunInstances against spotter sim: %v", err)
	}
	if got := run.Instances[0].State.Name; got != types.InstanceStateNameRunning {
		t.Errorf("with --pending-delay 0s the instance is %s; want running", got)
	}
	code, err := awssim.TOTP(extraSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetSessionToken(ctx, &sts.GetSessionTokenInput{SerialNumber: aws.String(extraSerial), TokenCode: aws.String(code)}); err != nil {
		t.Errorf("GetSessionToken with the --mfa-device code: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runSim after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runSim did not shut down within 10s of cancel")
	}
}

func TestRunSimFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "bad mfa device", args: []string{"--mfa-device", "no-equals-sign"}},
		{name: "bad secret", args: []string{"--addr", "127.0.0.1:0", "--mfa-device", "arn:aws:iam::123456789012:mfa/x=!!"}},
		{name: "stray argument", args: []string{"extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if err := runSim(context.Background(), tt.args, func(string) string { return "" }, nil, &out, &errb); err == nil {
				t.Errorf("runSim(%q) = nil; want an error", tt.args)
			}
		})
	}
}
