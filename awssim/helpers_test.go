package awssim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/awssim"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testWorld is a Sim behind an httptest server with SDK clients on it.
type testWorld struct {
	sim   *awssim.Sim
	srv   *httptest.Server
	clock *clock
	ec2   *ec2.Client
	sts   *sts.Client
}

// epoch is a fixed start so prices and TOTP codes are reproducible.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func mustWorld(tb testing.TB, opts awssim.Options) *testWorld {
	tb.Helper()
	c := &clock{t: epoch}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	sim := awssim.New(opts)
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	w := &testWorld{sim: sim, srv: srv, clock: c}
	w.ec2, w.sts = w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", "us-east-1")
	return w
}

// clients builds SDK clients for a key pair without reading the
// environment or shared config, with retries off so every call is one
// request.
func (w *testWorld) clients(ak, secret, token, region string) (*ec2.Client, *sts.Client) {
	cfg := aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, secret, token),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: readWhole{w.srv.Client().Transport}},
	}
	e := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(w.srv.URL) })
	s := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(w.srv.URL) })
	return e, s
}

// readWhole reads each answer before RoundTrip returns. The SDK closes a
// request's body once RoundTrip has returned, while net/http may still be
// reading it (to check that nothing follows Content-Length); that read then
// fails and net/http closes the connection under the answer the SDK is
// decoding: "use of closed network connection" (aws-sdk-go-v2 issue 2737).
// The SDK retries that, but these clients make one attempt per call.
// spotter's own client reads whole answers for the same reason and more.
type readWhole struct{ next http.RoundTripper }

func (t readWhole) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// apiErr returns the AWS error code and HTTP status of err, or fails.
func apiErr(tb testing.TB, err error) (code string, status int) {
	tb.Helper()
	if err == nil {
		tb.Fatal("call succeeded; want an AWS error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		tb.Fatalf("error %v is not an AWS API error", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		if re.ServiceRequestID() == "" {
			tb.Errorf("error %v carries no request id", err)
		}
	}
	return ae.ErrorCode(), status
}

func wantErr(tb testing.TB, err error, code string, status int) {
	tb.Helper()
	gotCode, gotStatus := apiErr(tb, err)
	if gotCode != code || gotStatus != status {
		tb.Fatalf("error = %s (HTTP %d); want %s (HTTP %d); full error: %v", gotCode, gotStatus, code, status, err)
	}
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return c
}

var _ = http.StatusOK

// usEast1Zones are the default region's zones in the catalogue: six, as
// EC2 has there.
var usEast1Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}

// regionState picks one region out of a State.
func regionState(tb testing.TB, st awssim.State, name string) awssim.RegionState {
	tb.Helper()
	for _, r := range st.Regions {
		if r.Name == name {
			return r
		}
	}
	tb.Fatalf("region %s not in state", name)
	return awssim.RegionState{}
}
