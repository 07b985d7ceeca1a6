package spot

import (
	"context"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

// TestLaunchMatchesArchitecture: a launch offers EC2 only the pools whose
// instance type runs the AMI's architecture, says which it left out, and
// asks EC2 about an AMI and a type once.
func TestLaunchMatchesArchitecture(t *testing.T) {
	const ami = "ami-0abcdef1234567890" // e.spec's
	tests := []struct {
		name      string
		setup     func(t *testing.T, e *env)
		types     []string
		wantCode  string
		wantTypes []string // every instance launched is one of these
		wantWarn  string
	}{
		{name: "x86 AMI leaves Graviton types out", types: []string{"m5.large", "m6g.large"},
			wantTypes: []string{"m5.large"}, wantWarn: "m6g.large skipped: the AMI " + ami + " is x86_64"},
		{name: "arm64 AMI launches only Graviton types", types: []string{"m5.large", "m6g.large"},
			setup: func(t *testing.T, e *env) {
				if err := e.sim.SetImage(region, ami, "arm64"); err != nil {
					t.Fatal(err)
				}
			},
			wantTypes: []string{"m6g.large"}, wantWarn: "m5.large skipped"},
		{name: "no allowed type runs the AMI", types: []string{"m6g.large", "c7g.large"}, wantCode: apperr.Invalid},
		{name: "architecture lookups denied: launched unchecked, with a warning", types: []string{"m5.large"},
			setup: func(t *testing.T, e *env) {
				if err := e.sim.InjectFault("DescribeImages", "UnauthorizedOperation", 1, 1); err != nil {
					t.Fatal(err)
				}
			},
			wantTypes: []string{"m5.large"}, wantWarn: "architecture was not checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			s := e.spec("tokA", "k1", 2)
			s.InstanceTypes = tt.types
			res, err := e.client.Launch(context.Background(), s)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				if !strings.Contains(apperr.Details(err), "runs") || e.callCount("CreateFleet") != 0 {
					t.Errorf("error %q, CreateFleet ×%d; want the mismatch named and nothing launched", apperr.Details(err), e.callCount("CreateFleet"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Instances) != 2 {
				t.Fatalf("launched %d; want 2", len(res.Instances))
			}
			for _, in := range res.Instances {
				if !strings.Contains(strings.Join(tt.wantTypes, ","), in.Type) {
					t.Errorf("instance of type %s; want one of %v", in.Type, tt.wantTypes)
				}
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), tt.wantWarn) {
				t.Errorf("warnings %q; want one saying %q", res.Warnings, tt.wantWarn)
			}
		})
	}
}

func TestArchitectureLookedUpOnce(t *testing.T) {
	e := mustEnv(t)
	e.mustLaunch(t, e.spec("tokA", "k1", 1))
	e.resetCalls()
	e.mustLaunch(t, e.spec("tokB", "k2", 1))
	if n := e.callCount("DescribeImages") + e.callCount("DescribeInstanceTypes"); n != 0 {
		t.Errorf("second launch of the same AMI and types made %d architecture lookups; want 0", n)
	}
}

// TestReplaceMatchesArchitecture: a replacement is offered only the types
// the original's AMI boots on.
func TestReplaceMatchesArchitecture(t *testing.T) {
	e := mustEnv(t)
	victim := e.mustLaunch(t, e.spec("tokA", "a", 1)).Instances[0]
	if err := e.sim.Interrupt(victim.ID); err != nil {
		t.Fatal(err)
	}
	in, ok, err := e.client.Replace(context.Background(), e.creds, region, "tokA", victim.ID, []string{"m6g.large", "m5.large", "c7g.large"}, Caps{})
	if err != nil || !ok {
		t.Fatalf("Replace = %+v, %v, %v", in, ok, err)
	}
	for k, v := range e.lastCall("CreateFleet") {
		if strings.Contains(k, "InstanceType") && (v[0] == "m6g.large" || v[0] == "c7g.large") {
			t.Errorf("replacement fleet offered %s (%s) for an x86_64 AMI", v[0], k)
		}
	}
	if in.Type != "m5.large" {
		t.Errorf("replacement is %s; want m5.large", in.Type)
	}
}
