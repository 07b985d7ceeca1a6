package spot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// launchCase is one case of TestLaunch.
type launchCase struct {
	name     string
	setup    func(t *testing.T, e *env)
	spec     func(e *env) LaunchSpec
	wantCode string // "" = success
	check    func(t *testing.T, e *env, res LaunchResult)
}

func TestLaunch(t *testing.T) {
	var tests []launchCase
	for _, cases := range [][]launchCase{launchBasics(), launchAWS(), launchReplays(), launchAdmittedRetries(), launchAdmits(), launchPools(), launchCaps(t)} {
		tests = append(tests, cases...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			res, err := e.client.Launch(context.Background(), tt.spec(e))
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
			} else if err != nil {
				t.Fatalf("Launch = %v", err)
			}
			if tt.check != nil {
				tt.check(t, e, res)
			}
			e.checkTagged(t)
		})
	}
}

// checkTagged proves the domain rule: every instance awssim holds carries
// the spotter tags and a TTL, and shuts down by terminating.
func (e *env) checkTagged(t *testing.T) {
	t.Helper()
	for _, in := range e.simInstances() {
		tags := map[string]string{}
		for _, tg := range in.Tags {
			tags[tg.Key] = tg.Value
		}
		for _, k := range []string{TagToken, TagRequest, TagExpiresAt, TagTemplate, TagClientToken} {
			if tags[k] == "" {
				t.Errorf("instance %s lacks tag %s (tags %v)", in.InstanceID, k, tags)
			}
		}
		if _, err := time.Parse(time.RFC3339, tags[TagExpiresAt]); err != nil {
			t.Errorf("instance %s: expires-at %q: %v", in.InstanceID, tags[TagExpiresAt], err)
		}
		if tags["team"] != "ci" {
			t.Errorf("instance %s lacks the user tag", in.InstanceID)
		}
	}
}

// dryPools returns the pools of the standard spec, cheapest first.
func (e *env) dryPools(t *testing.T) []Pool {
	t.Helper()
	s := e.spec("probe", "probe", 1)
	s.DryRun = true
	res, err := e.client.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return res.Pools
}

func (e *env) noSpot(t *testing.T) {
	t.Helper()
	if err := e.sim.SetCapacity(region, "", "", false, 0); err != nil {
		t.Fatal(err)
	}
}

func TestLaunchRejectsBadSpecs(t *testing.T) {
	e := mustEnv(t)
	tests := []struct {
		name   string
		mutate func(s *LaunchSpec)
		field  string
	}{
		{"no types", func(s *LaunchSpec) { s.InstanceTypes = nil }, "instanceTypes"},
		{"bad type", func(s *LaunchSpec) { s.InstanceTypes = []string{"m5 large"} }, "instanceTypes"},
		{"zero count", func(s *LaunchSpec) { s.Count = 0 }, "count"},
		{"no ami", func(s *LaunchSpec) { s.AMI = "" }, "ami"},
		{"bad ami", func(s *LaunchSpec) { s.AMI = "ubuntu" }, "ami"},
		{"no ttl", func(s *LaunchSpec) { s.TTL = 0 }, "ttl"},
		{"reserved tag", func(s *LaunchSpec) { s.Tags = map[string]string{"spotter:token": "x"} }, "tags"},
		{"aws tag", func(s *LaunchSpec) { s.Tags = map[string]string{"aws:x": "x"} }, "tags"},
		{"bad subnet", func(s *LaunchSpec) { s.Subnets = []string{"net-1"} }, "subnets"},
		{"bad zone", func(s *LaunchSpec) { s.AvailabilityZones = []string{"moon"} }, "availabilityZones"},
		{"bad region", func(s *LaunchSpec) { s.Region = "us-east-1.evil.example" }, "region"},
		{"gzip user data", func(s *LaunchSpec) { s.UserData = []byte{0x1f, 0x8b, 8, 0} }, "userData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := e.spec("tokA", tt.name, 1)
			tt.mutate(&s)
			_, err := e.client.Launch(context.Background(), s)
			wantCode(t, err, apperr.Invalid)
			if d := apperr.Details(err); !strings.HasPrefix(d, tt.field) {
				t.Errorf("details %q; want them to name %s", d, tt.field)
			}
		})
	}
	if n := e.callCount("CreateFleet"); n != 0 {
		t.Errorf("CreateFleet called %d times for bad input", n)
	}
}

func TestClientToken(t *testing.T) {
	a, b, c := ClientToken("tok", "key"), ClientToken("tok", "key"), ClientToken("tok", "key2")
	if a != b || a == c || ClientToken("tokk", "ey") == a {
		t.Errorf("ClientToken not deterministic or not distinct: %s %s %s", a, b, c)
	}
	if len(a) > 64 || !printableASCII(a) {
		t.Errorf("ClientToken %q: %d chars; want ≤ 64 ASCII", a, len(a))
	}
}

// TestConcurrentReplicas runs the same launch from two Clients at once, as
// two replicas receiving one redelivered webhook would: EC2 launches once.
func TestConcurrentReplicas(t *testing.T) {
	e := mustEnv(t)
	other, err := New(e.client.cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := e.spec("tokA", "same", 2)
	results := make(chan LaunchResult, 2)
	errs := make(chan error, 2)
	for i, c := range []*Client{e.client, other} {
		go func() {
			s := spec
			s.RequestID = []string{"r1", "r2"}[i]
			res, err := c.Launch(context.Background(), s)
			results <- res
			errs <- err
		}()
	}
	var all [][]string
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		got := ids((<-results).Instances)
		slices.Sort(got)
		all = append(all, got)
	}
	if !slices.Equal(all[0], all[1]) || len(all[0]) != 2 {
		t.Errorf("replicas got %v and %v; want the same 2 instances", all[0], all[1])
	}
	if n := len(e.simInstances()); n != 2 {
		t.Errorf("awssim has %d instances; want 2", n)
	}
}
