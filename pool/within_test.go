package pool

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/policy"
)

func tokenPolicy(t *testing.T, mut func(*policy.Policy)) *policy.Policy {
	t.Helper()
	pol := &policy.Policy{
		Regions: []string{"us-east-1"}, InstanceTypes: []string{"c6i.*", "m5.large"}, AMIs: []string{"ami-0abc1234"},
		MaxCount: 50, MaxRunning: 50, MaxTTL: policy.Duration(24 * time.Hour), AllowUserData: true, OnDemandFallback: true,
		Tasks: []string{api.TaskLaunch, api.TaskTerminate, api.TaskStatus},
	}
	if mut != nil {
		mut(pol)
	}
	if err := pol.Normalize("us-east-1"); err != nil {
		t.Fatal(err)
	}
	return pol
}

func TestWithinPolicy(t *testing.T) {
	tests := map[string]struct {
		pool  func(*Pool)
		pol   func(*policy.Policy)
		field string
	}{
		"within":                           {},
		"no launch task":                   {pol: func(p *policy.Policy) { p.Tasks = []string{api.TaskStatus} }, field: "tokenId"},
		"no terminate task":                {pol: func(p *policy.Policy) { p.Tasks = []string{api.TaskLaunch} }, field: "tokenId"},
		"dry run only":                     {pol: func(p *policy.Policy) { p.DryRunOnly = true }, field: "tokenId"},
		"region outside":                   {pool: func(p *Pool) { p.Region = "eu-west-1" }, field: "region"},
		"ami outside":                      {pool: func(p *Pool) { p.AMI = "ami-0fff" }, field: "ami"},
		"user data not allowed":            {pool: func(p *Pool) { p.UserData = ud(10) }, pol: func(p *policy.Policy) { p.AllowUserData = false }, field: "userData"},
		"bootstrap, user data not allowed": {pool: func(p *Pool) { p.Bootstrap = BootstrapBuildkite }, pol: func(p *policy.Policy) { p.AllowUserData = false }, field: "bootstrap"},
		"bootstrap, user data allowed":     {pool: func(p *Pool) { p.Bootstrap = BootstrapBuildkite }, pol: func(p *policy.Policy) { p.AllowUserData = true }},
		"concrete type in pattern":         {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.4xlarge" }},
		"concrete type outside":            {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "m5.xlarge" }, field: "launchConfigs[0].instanceType"},
		"same pattern":                     {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.*" }},
		"narrower pattern":                 {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.2*" }},
		"wider pattern":                    {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "m5.*" }, field: "launchConfigs[0].instanceType"},
		"pattern against single-char":      {pool: func(p *Pool) { p.LaunchConfigs[0].InstanceType = "c6i.*" }, pol: func(p *policy.Policy) { p.InstanceTypes = []string{"c6i.?"} }, field: "launchConfigs[0].instanceType"},
		"maxPrice at the policy's":         {pool: func(p *Pool) { p.MaxPrice = 0.5 }, pol: func(p *policy.Policy) { p.MaxPrice = 0.5 }},
		"maxPrice over":                    {pool: func(p *Pool) { p.MaxPrice = 0.51 }, pol: func(p *policy.Policy) { p.MaxPrice = 0.5 }, field: "maxPrice"},
		"maxHourlySpend at":                {pool: func(p *Pool) { p.MaxHourlySpend = 10 }, pol: func(p *policy.Policy) { p.MaxHourlySpend = 10 }},
		"maxHourlySpend over":              {pool: func(p *Pool) { p.MaxHourlySpend = 10.01 }, pol: func(p *policy.Policy) { p.MaxHourlySpend = 10 }, field: "maxHourlySpend"},
		"maxLifetime at maxTTL":            {pool: func(p *Pool) { p.MaxLifetime = Duration(24 * time.Hour) }},
		"maxLifetime over maxTTL":          {pool: func(p *Pool) { p.MaxLifetime = Duration(24*time.Hour + time.Second) }, field: "maxLifetime"},
		"on-demand base not allowed":       {pool: func(p *Pool) { p.OnDemandBase = 1 }, pol: func(p *policy.Policy) { p.OnDemandFallback = false }, field: "onDemandBase"},
		"fallback not allowed":             {pool: func(p *Pool) { p.OnDemandFallback = true }, pol: func(p *policy.Policy) { p.OnDemandFallback = false }, field: "onDemandBase"},
		"subnet outside":                   {pool: func(p *Pool) { p.Subnets = []string{"subnet-0b"} }, pol: func(p *policy.Policy) { p.Subnets = []string{"subnet-0a"} }, field: "subnets"},
		"subnet inside":                    {pool: func(p *Pool) { p.Subnets = []string{"subnet-0a"} }, pol: func(p *policy.Policy) { p.Subnets = []string{"subnet-0a"} }},
		// 50 units on weight-1 c6i.large can be 50 instances: at maxRunning 50.
		"instances at maxRunning":   {},
		"instances past maxRunning": {pol: func(p *policy.Policy) { p.MaxCount, p.MaxRunning = 49, 49 }, field: "maxCapacity"},
		// Only weight-4 configs: 50 units are at most 13 instances.
		"heavy configs fit":  {pool: func(p *Pool) { p.LaunchConfigs = p.LaunchConfigs[1:] }, pol: func(p *policy.Policy) { p.MaxCount, p.MaxRunning = 13, 13 }},
		"heavy configs past": {pool: func(p *Pool) { p.LaunchConfigs = p.LaunchConfigs[1:] }, pol: func(p *policy.Policy) { p.MaxCount, p.MaxRunning = 12, 12 }, field: "maxCapacity"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := valid(t)
			p.AMI = "ami-0abc1234"
			if tc.pool != nil {
				tc.pool(&p)
			}
			if err := p.Normalize(); err != nil {
				t.Fatal(err)
			}
			checkField(t, p.WithinPolicy(tokenPolicy(t, tc.pol)), tc.field)
		})
	}
}

// A pool that names no ceiling takes its token's.
func TestWithinPolicyInheritsCeilings(t *testing.T) {
	p := valid(t)
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	pol := tokenPolicy(t, func(p *policy.Policy) { p.MaxPrice, p.MaxHourlySpend = 0.2, 3 })
	if err := p.WithinPolicy(pol); err != nil {
		t.Fatal(err)
	}
	if p.MaxPrice != 0.2 || p.MaxHourlySpend != 3 {
		t.Errorf("maxPrice %g, maxHourlySpend %g; want the policy's 0.2 and 3", p.MaxPrice, p.MaxHourlySpend)
	}
}
