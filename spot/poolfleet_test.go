package spot

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func (e *env) poolSpec(capacity, onDemand int) PoolLaunchSpec {
	return PoolLaunchSpec{
		Credentials: e.creds, Region: region, TokenID: "tok_pool", Pool: "linux-ci",
		ClientToken: "spp-epoch-0",
		Configs: []PoolConfig{
			{InstanceTypes: []string{"c5.large"}, Weight: 1},
			{InstanceTypes: []string{"c5.2xlarge"}, Weight: 4},
		},
		Capacity: capacity, OnDemand: onDemand, AMI: "ami-0abcdef1234567890", TTL: 2 * time.Hour, At: e.clock.Now(),
	}
}

// TestLaunchPoolWeighted: one CreateFleet over every type × zone, weighted,
// with the on-demand base; the instances carry spotter:pool and the TTL.
func TestLaunchPoolWeighted(t *testing.T) {
	tests := map[string]struct{ capacity, onDemand int }{
		"spot only":                         {capacity: 6},
		"one unit on-demand":                {capacity: 6, onDemand: 1},
		"all on-demand (base = capacity)":   {capacity: 2, onDemand: 2},
		"a single unit, the smallest fleet": {capacity: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			spec := e.poolSpec(tc.capacity, tc.onDemand)
			res, err := e.client.LaunchPool(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			q := e.lastCall("CreateFleet")
			if q.Get("TargetCapacitySpecification.TotalTargetCapacity") != itoa(tc.capacity) ||
				q.Get("TargetCapacitySpecification.OnDemandTargetCapacity") != itoa(tc.onDemand) ||
				q.Get("SpotOptions.AllocationStrategy") != "price-capacity-optimized" {
				t.Errorf("CreateFleet capacity: %v", q)
			}
			weights := map[string]string{}
			for i := 1; q.Has(overrideKey(i, "InstanceType")); i++ {
				weights[q.Get(overrideKey(i, "InstanceType"))] = q.Get(overrideKey(i, "WeightedCapacity"))
			}
			if weights["c5.large"] != "1" || weights["c5.2xlarge"] != "4" {
				t.Errorf("override weights %v", weights)
			}
			units, onDemandUnits := 0, 0
			for _, in := range res.Instances {
				w := map[string]int{"c5.large": 1, "c5.2xlarge": 4}[in.Type]
				units += w
				if in.Lifecycle == "on-demand" {
					onDemandUnits += w
				}
				if in.Tag(TagPool) != "linux-ci" || in.Tag(TagToken) != "tok_pool" {
					t.Errorf("%s tags %v", in.ID, in.Tags)
				}
				if want := spec.At.Add(spec.TTL); !in.ExpiresAt.Equal(want) {
					t.Errorf("%s expires %v, want %v", in.ID, in.ExpiresAt, want)
				}
			}
			if units < tc.capacity || units >= tc.capacity+4 || onDemandUnits < tc.onDemand {
				t.Errorf("%d units (%d on-demand) for a target of %d (%d)", units, onDemandUnits, tc.capacity, tc.onDemand)
			}
			if live := e.liveSimInstances(); len(live) != len(res.Instances) {
				t.Errorf("awssim runs %d instances, the launch reported %d", len(live), len(res.Instances))
			}
		})
	}
}

// TestLaunchPoolRetry: the same decision sent again starts nothing: found
// by its ClientToken tag, and EC2 itself answers a repeat of the request
// (the same parameters, At included) with the same fleet.
func TestLaunchPoolRetry(t *testing.T) {
	e := mustEnv(t)
	spec := e.poolSpec(3, 0)
	first, err := e.client.LaunchPool(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Second) // a retry comes later; At is the decision's
	again, err := e.client.LaunchPool(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || !slices.Equal(ids(first.Instances), ids(again.Instances)) {
		t.Errorf("retry: replayed %v, %v; want %v", again.Replayed, ids(again.Instances), ids(first.Instances))
	}
	if n := e.callCount("CreateFleet"); n != 1 {
		t.Errorf("%d CreateFleet calls, want 1", n)
	}
	// The request itself is the same: EC2's own idempotency holds even
	// where the tag lookup could not (instances not yet listed).
	_, api, err := e.client.ec2For(region)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := first.Template
	_, overrides, _, _, err := e.client.poolOverrides(context.Background(), api, e.client.ec2Opts(e.creds), region, spec)
	if err != nil {
		t.Fatal(err)
	}
	tags := first.Instances[0].Tags
	out, err := api.CreateFleet(context.Background(), poolFleetInput(spec, tmpl, overrides, tags), e.client.ec2Opts(e.creds))
	if err != nil {
		t.Fatalf("the same request again: %v", err)
	}
	var got []string
	for _, fi := range out.Instances {
		got = append(got, fi.InstanceIds...)
	}
	slices.Sort(got)
	want := ids(first.Instances)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("EC2 answered the repeat with %v, want the first fleet %v", got, want)
	}
	if live := e.liveSimInstances(); len(live) != 3 {
		t.Errorf("%d live instances after the repeats, want 3", len(live))
	}
}

// TestLaunchPoolAdmitRefuses: the token's caps refuse before anything
// is created.
func TestLaunchPoolAdmitRefuses(t *testing.T) {
	e := mustEnv(t)
	spec := e.poolSpec(2, 0)
	spec.Admit = func([]Instance) (float64, error) { return 0, errRefused }
	if _, err := e.client.LaunchPool(context.Background(), spec); err != errRefused {
		t.Fatalf("got %v", err)
	}
	if n := e.callCount("CreateFleet"); n != 0 {
		t.Errorf("%d CreateFleet calls after a refusal", n)
	}
}

var errRefused = errors.New("refused by the token's caps")

func overrideKey(i int, field string) string {
	return "LaunchTemplateConfigs.1.Overrides." + itoa(i) + "." + field
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestLaunchPoolOnDemandFallback: what spot cannot meet is launched
// on-demand when the pool allows it, and only then; a retry finds both
// fleets' instances and starts nothing.
func TestLaunchPoolOnDemandFallback(t *testing.T) {
	tests := map[string]struct {
		spotLeft int
		fallback bool
		wantSpot int
		wantOD   int
	}{
		"spot short, fallback on":          {spotLeft: 1, fallback: true, wantSpot: 1, wantOD: 2},
		"no spot at all, fallback on":      {spotLeft: 0, fallback: true, wantOD: 3},
		"spot short, fallback off":         {spotLeft: 1, wantSpot: 1},
		"spot exactly enough, fallback on": {spotLeft: 3, fallback: true, wantSpot: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			// spotLeft c5.large in one zone, none in the others.
			if err := e.sim.SetCapacity(region, "", "c5.large", false, 0); err != nil {
				t.Fatal(err)
			}
			if err := e.sim.SetCapacity(region, "us-east-1a", "c5.large", false, tc.spotLeft); err != nil {
				t.Fatal(err)
			}
			spec := e.poolSpec(3, 0)
			spec.Configs = spec.Configs[:1] // c5.large, weight 1
			spec.OnDemandFallback = tc.fallback
			res, err := e.client.LaunchPool(context.Background(), spec)
			if tc.wantSpot+tc.wantOD == 0 {
				wantCode(t, err, "capacity_unavailable")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			spot, od := 0, 0
			for _, in := range res.Instances {
				if in.Lifecycle == "on-demand" {
					od++
				} else {
					spot++
				}
				if in.Tag(TagClientToken) != spec.ClientToken || in.Tag(TagPool) != "linux-ci" {
					t.Errorf("%s tags %v", in.ID, in.Tags)
				}
			}
			if spot != tc.wantSpot || od != tc.wantOD {
				t.Errorf("%d spot and %d on-demand, want %d and %d", spot, od, tc.wantSpot, tc.wantOD)
			}
			calls := e.callCount("CreateFleet")
			again, err := e.client.LaunchPool(context.Background(), spec)
			if err != nil || !again.Replayed || len(again.Instances) != len(res.Instances) || e.callCount("CreateFleet") != calls {
				t.Errorf("retry: %v, replayed %v, %d instances, %d more CreateFleet", err, again.Replayed, len(again.Instances), e.callCount("CreateFleet")-calls)
			}
		})
	}
}

// TestLaunchPoolConfigPrices: each config's price cap rides on its own
// overrides; a type under its cap is offered, one over it is not.
func TestLaunchPoolConfigPrices(t *testing.T) {
	e := mustEnv(t)
	spec := e.poolSpec(2, 0)
	spec.MaxPrice = 0.001        // far under any spot price: c5.large alone is over it
	spec.Configs[1].MaxPrice = 5 // c5.2xlarge's utility lets it cost more
	res, err := e.client.LaunchPool(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	q := e.lastCall("CreateFleet")
	for i := 1; q.Has(overrideKey(i, "InstanceType")); i++ {
		if typ := q.Get(overrideKey(i, "InstanceType")); typ != "c5.2xlarge" || q.Get(overrideKey(i, "MaxPrice")) != "5" {
			t.Errorf("override %d: %s at %s", i, typ, q.Get(overrideKey(i, "MaxPrice")))
		}
	}
	if len(res.Instances) != 1 || res.Instances[0].Type != "c5.2xlarge" {
		t.Errorf("launched %v, want one c5.2xlarge (4 units for 2)", res.Instances)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "c5.large skipped") }) {
		t.Errorf("no warning for the skipped c5.large: %v", res.Warnings)
	}
}
