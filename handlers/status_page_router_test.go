package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/awssim"
)

// errReply is an error reply's stable part.
type errReply struct {
	Error   string `json:"error"`
	Details string `json:"details"`
}

// startTagged starts n instances in the sim tagged as the token's.
func (f *fixture) startTagged(tb testing.TB, tokenID string, n int) {
	tb.Helper()
	if err := f.sim.SetCapacity("us-east-1", "", "", true, 1<<20); err != nil {
		tb.Fatal(err)
	}
	c := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.simURL),
		Credentials: credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "")})
	_, err := c.RunInstances(context.Background(), &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: "t3.micro", MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String(api.TagToken), Value: aws.String(tokenID)}}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestStatusPageRoute: status through the router lists at most limit
// instances (100 when not given) with nextCursor while more remain, and
// the cursor reads the rest; limits outside 5–1,000, a limit with
// instanceIds and a cursor on another task are 400s.
func TestStatusPageRoute(t *testing.T) {
	f := mustFixture(t)
	plain := "/hooks/" + f.raw("plain")
	f.startTagged(t, f.tokens["plain"].ID, 101)
	page := func(body string) (int, api.TaskReply, errReply) {
		t.Helper()
		rec := f.do(http.MethodPost, plain, echo.MIMEApplicationJSON, body, nil)
		var ok api.TaskReply
		var bad errReply
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &ok); err != nil {
				t.Fatal(err)
			}
		} else if err := json.Unmarshal(rec.Body.Bytes(), &bad); err != nil {
			t.Fatal(err)
		}
		return rec.Code, ok, bad
	}
	tests := map[string]struct {
		body       string
		wantFirst  int // instances on the first page
		wantCursor bool
	}{
		"at the limit":            {body: `{"task":"status","limit":101}`, wantFirst: 101},
		"one past the limit":      {body: `{"task":"status","limit":100}`, wantFirst: 100, wantCursor: true},
		"no limit: the default":   {body: `{"task":"status"}`, wantFirst: 100, wantCursor: true},
		"the smallest limit":      {body: `{"task":"status","limit":5}`, wantFirst: 5, wantCursor: true},
		"the largest limit":       {body: `{"task":"status","limit":1000}`, wantFirst: 101},
		"named ids are not paged": {body: `{"task":"status","instanceIds":["i-0123456789abcdef0"]}`, wantFirst: 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			code, r, bad := page(tt.body)
			if code != http.StatusOK || len(r.Instances) != tt.wantFirst || (r.NextCursor != "") != tt.wantCursor {
				t.Fatalf("%s = %d %+v, %d instances, nextCursor %q; want 200, %d, a cursor %v", tt.body, code, bad, len(r.Instances), r.NextCursor, tt.wantFirst, tt.wantCursor)
			}
			seen := len(r.Instances)
			for cursor := r.NextCursor; cursor != ""; {
				var body map[string]any
				_ = json.Unmarshal([]byte(tt.body), &body)
				body["cursor"] = cursor
				b, _ := json.Marshal(body)
				code, r, bad = page(string(b))
				if code != http.StatusOK || len(r.Instances) == 0 {
					t.Fatalf("next page = %d %+v, %d instances", code, bad, len(r.Instances))
				}
				seen += len(r.Instances)
				cursor = r.NextCursor
			}
			if tt.wantFirst > 0 && seen != 101 {
				t.Fatalf("the pages held %d instances; want all 101", seen)
			}
		})
	}
	refused := map[string]string{
		"below the smallest":      `{"task":"status","limit":4}`,
		"past the largest":        `{"task":"status","limit":1001}`,
		"zero":                    `{"task":"status","limit":0}`,
		"with instanceIds":        `{"task":"status","limit":10,"instanceIds":["i-0123456789abcdef0"]}`,
		"a cursor on a terminate": `{"task":"terminate","all":true,"cursor":"x"}`,
		"a forged cursor":         `{"task":"status","cursor":"not-a-cursor"}`,
		"a cursor too long":       fmt.Sprintf(`{"task":"status","cursor":%q}`, strings.Repeat("a", 4097)),
	}
	for name, body := range refused {
		t.Run(name, func(t *testing.T) {
			code, _, bad := page(body)
			if code != http.StatusBadRequest || bad.Error != apperr.Invalid {
				t.Fatalf("%s = %d %+v; want 400 %s", body, code, bad, apperr.Invalid)
			}
		})
	}
}

// TestCapabilityPageShowsPastDefaultPage: the capability page asks status
// for EC2's largest page, so a token with more instances than status's
// default page (100) still sees them all on its page.
func TestCapabilityPageShowsPastDefaultPage(t *testing.T) {
	f := mustFixture(t)
	f.startTagged(t, f.tokens["plain"].ID, 101)
	rec := f.do(http.MethodGet, "/hooks/"+f.raw("plain"), "", "", map[string]string{echo.HeaderAccept: "text/html"})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET the page = %d", rec.Code)
	}
	if n := strings.Count(rec.Body.String(), `class="inst"`); n != 101 {
		t.Errorf("the page lists %d instances; want all 101", n)
	}
}
