package awssim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/awssim"
)

// serveForm sends one signed-looking Query call straight to the handler, so
// a benchmark measures the emulator and not the SDK or the network.
func serveForm(tb testing.TB, sim *awssim.Sim, form url.Values) string {
	tb.Helper()
	const auth = "AWS4-HMAC-SHA256 Credential=" + awssim.DefaultAccessKeyID + "/20260314/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
	form.Set("Version", "2016-11-15")
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("%s: status %d: %s", form.Get("Action"), rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// BenchmarkDescribeInstancesByTag is spotter's usage check against a busy
// region: 10,000 instances in 2,500 launches, each launch tagged with its
// own spotter:token, and every describe filtered by one token and the live
// states. Its cost should follow the 4 matches, not the 10,000 instances.
func BenchmarkDescribeInstancesByTag(b *testing.B) {
	const launches, perLaunch = 2500, 4
	sim := awssim.New(awssim.Options{Seed: 1})
	if err := sim.SetCapacity("us-east-1", "", "", true, 1<<30); err != nil {
		b.Fatal(err)
	}
	for i := range launches {
		serveForm(b, sim, url.Values{
			"Action": {"RunInstances"}, "ImageId": {"ami-0123456789abcdef0"}, "InstanceType": {"t3.micro"},
			"MinCount": {"1"}, "MaxCount": {fmt.Sprint(perLaunch)},
			"TagSpecification.1.ResourceType": {"instance"},
			"TagSpecification.1.Tag.1.Key":    {"spotter:token"}, "TagSpecification.1.Tag.1.Value": {fmt.Sprintf("tok-%d", i)},
			"TagSpecification.1.Tag.2.Key": {"spotter:client-token"}, "TagSpecification.1.Tag.2.Value": {fmt.Sprintf("ct-%d", i)},
		})
	}
	describe := func(i int) url.Values {
		return url.Values{
			"Action":        {"DescribeInstances"},
			"Filter.1.Name": {"tag:spotter:token"}, "Filter.1.Value.1": {fmt.Sprintf("tok-%d", i%launches)},
			"Filter.2.Name": {"instance-state-name"}, "Filter.2.Value.1": {"pending"}, "Filter.2.Value.2": {"running"},
		}
	}
	if got := strings.Count(serveForm(b, sim, describe(7)), "<instanceId>"); got != perLaunch {
		b.Fatalf("describe by token found %d instances; want %d", got, perLaunch)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		serveForm(b, sim, describe(i))
	}
}
