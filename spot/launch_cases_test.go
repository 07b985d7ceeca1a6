package spot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// launchBasics are launches that succeed or fail on the spec alone.
func launchBasics() []launchCase {
	return []launchCase{
		{
			name: "three over two types",
			spec: func(e *env) LaunchSpec { return e.spec("tokA", "k1", 3) },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if len(res.Instances) != 3 || res.Replayed || res.DryRun {
					t.Fatalf("Launch = %d instances, replayed %v; want 3 fresh", len(res.Instances), res.Replayed)
				}
				if got := len(e.liveSimInstances()); got != 3 {
					t.Errorf("awssim has %d instances; want 3", got)
				}
				if len(res.Pools) < 2 {
					t.Errorf("Pools = %v; want the pools of both types", res.Pools)
				}
				for _, in := range res.Instances {
					if in.Lifecycle != "spot" || in.Price <= 0 || in.AZ == "" || !in.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
						t.Errorf("instance %+v; want spot, priced, zoned, expiring in 1h", in)
					}
					if !slices.Contains([]string{"m5.large", "c5.large"}, in.Type) {
						t.Errorf("instance type %q not asked for", in.Type)
					}
				}
			},
		},
		{
			name: "dry run launches nothing",
			spec: func(e *env) LaunchSpec { s := e.spec("tokA", "k1", 2); s.DryRun = true; return s },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.DryRun || len(res.Instances) != 0 || len(res.Pools) == 0 || res.HourlyCost <= 0 {
					t.Errorf("dry run = %+v; want pools and a cost, no instances", res)
				}
				if !slices.IsSortedFunc(res.Pools, func(a, b Pool) int { return cmp.Compare(a.Price, b.Price) }) {
					t.Errorf("pools not cheapest first: %v", res.Pools)
				}
				if n := len(e.simInstances()); n != 0 {
					t.Errorf("awssim has %d instances after a dry run", n)
				}
			},
		},
		{
			name: "user data over 16 KB",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 1)
				s.UserData = []byte("#!/bin/sh\n" + strings.Repeat("echo x\n", 2400))
				return s
			},
			wantCode: apperr.Invalid,
		},
		{
			name: "type not offered",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 1)
				s.InstanceTypes = []string{"zz9.huge"}
				return s
			},
			wantCode: apperr.Invalid,
		},
	}
}

// launchAWS are launches through AWS's rough edges: throttling, and instances that take time to run.
func launchAWS() []launchCase {
	return []launchCase{
		{
			name: "throttled calls retried without duplicates",
			setup: func(t *testing.T, e *env) {
				for _, a := range []string{"CreateFleet", "DescribeInstances", "DescribeSpotPriceHistory", "CreateLaunchTemplate"} {
					if err := e.sim.InjectFault(a, "RequestLimitExceeded", 1, 1); err != nil {
						t.Fatal(err)
					}
				}
			},
			spec: func(e *env) LaunchSpec { return e.spec("tokA", "k1", 3) },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if got := len(e.simInstances()); got != 3 || len(res.Instances) != 3 {
					t.Errorf("awssim has %d, reply %d; want 3 and 3", got, len(res.Instances))
				}
				if e.callCount("CreateFleet") != 2 {
					t.Errorf("CreateFleet sent %d times; want 2 (one throttled)", e.callCount("CreateFleet"))
				}
			},
		},
		{
			name: "wait fills addresses",
			spec: func(e *env) LaunchSpec { s := e.spec("tokA", "k1", 1); s.Wait = true; return s },
			check: func(t *testing.T, e *env, res LaunchResult) {
				in := res.Instances[0]
				if in.State != "running" || in.PrivateIP == "" || in.LaunchTime.IsZero() {
					t.Errorf("instance %+v; want running with an address", in)
				}
			},
		},
	}
}

// launchReplays are retries: a key used before answers with its first launch.
func launchReplays() []launchCase {
	return []launchCase{
		{
			name: "same key replays",
			setup: func(t *testing.T, e *env) {
				e.mustLaunch(t, e.spec("tokA", "k1", 3))
				e.clock.Add(time.Minute) // a later retry: other expiry, other request id
			},
			spec: func(e *env) LaunchSpec { s := e.spec("tokA", "k1", 3); s.RequestID = "retry"; return s },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.Replayed || len(res.Instances) != 3 {
					t.Fatalf("Launch = %d instances, replayed %v; want the first 3, replayed", len(res.Instances), res.Replayed)
				}
				if got := len(e.simInstances()); got != 3 {
					t.Errorf("awssim has %d instances; want still 3", got)
				}
				if e.callCount("CreateFleet") != 1 {
					t.Errorf("CreateFleet called %d times; want 1", e.callCount("CreateFleet"))
				}
			},
		},
		{
			name:  "different key launches again",
			setup: func(t *testing.T, e *env) { e.mustLaunch(t, e.spec("tokA", "k1", 3)) },
			spec:  func(e *env) LaunchSpec { return e.spec("tokA", "k2", 3) },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if res.Replayed || len(e.simInstances()) != 6 {
					t.Errorf("replayed %v, awssim has %d; want a new launch, 6 in all", res.Replayed, len(e.simInstances()))
				}
			},
		},
		{
			name: "wait on a replay",
			setup: func(t *testing.T, e *env) {
				e.mustLaunch(t, e.spec("tokA", "k1", 1))
			},
			spec: func(e *env) LaunchSpec { s := e.spec("tokA", "k1", 1); s.Wait = true; return s },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.Replayed || res.Instances[0].State != "running" || res.Instances[0].Price <= 0 {
					t.Errorf("replay with wait = %+v", res)
				}
			},
		},
	}
}

// launchAdmittedRetries are retries of a launch with an Admit callback, answered from the live list or EC2.
func launchAdmittedRetries() []launchCase {
	return []launchCase{
		{
			name: "admitted retry replays from the live list",
			setup: func(t *testing.T, e *env) {
				e.mustLaunch(t, e.spec("tokA", "k1", 3))
				e.clock.Add(time.Minute)
				e.resetCalls()
			},
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 3)
				s.RequestID = "retry"
				return e.admitted(s, nil)
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.Replayed || len(res.Instances) != 3 || res.HourlyCost <= 0 {
					t.Fatalf("Launch = %+v; want the first 3, replayed and priced", res)
				}
				if d, f := e.callCount("DescribeInstances"), e.callCount("CreateFleet"); d != 1 || f != 0 {
					t.Errorf("DescribeInstances ×%d, CreateFleet ×%d; want 1 (the live list answers) and 0", d, f)
				}
			},
		},
		{
			name: "admitted retry of an ended launch replays through CreateFleet",
			setup: func(t *testing.T, e *env) {
				first := e.mustLaunch(t, e.spec("tokA", "k1", 2))
				e.terminate(t, "tokA", ids(first.Instances)...)
				e.clock.Add(time.Minute)
				e.resetCalls()
			},
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 2)
				s.RequestID = "retry"
				return e.admitted(s, nil)
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.Replayed || len(res.Instances) != 2 {
					t.Fatalf("Launch = %d instances, replayed %v; want the 2 ended ones, replayed", len(res.Instances), res.Replayed)
				}
				if got := len(e.liveSimInstances()); got != 0 {
					t.Errorf("awssim runs %d instances; want 0: an ended launch is not relaunched", got)
				}
				if e.callCount("CreateFleet") != 1 {
					t.Errorf("CreateFleet called %d times; want the 1 that EC2 refuses", e.callCount("CreateFleet"))
				}
			},
		},
		{
			name: "admitted retry with one instance ended names both",
			setup: func(t *testing.T, e *env) {
				first := e.mustLaunch(t, e.spec("tokA", "k1", 2))
				e.terminate(t, "tokA", first.Instances[0].ID)
				e.resetCalls()
			},
			spec: func(e *env) LaunchSpec { return e.admitted(e.spec("tokA", "k1", 2), nil) },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if !res.Replayed || len(res.Instances) != 2 {
					t.Fatalf("Launch = %d instances, replayed %v; want both of the first launch", len(res.Instances), res.Replayed)
				}
				if e.callCount("CreateFleet") != 0 || len(e.simInstances()) != 2 {
					t.Errorf("CreateFleet called %d times, awssim has %d; want 0 and 2", e.callCount("CreateFleet"), len(e.simInstances()))
				}
			},
		},
	}
}

// launchAdmits are new launches with an Admit callback (the policy's caps).
func launchAdmits() []launchCase {
	return []launchCase{
		{
			name: "admitted new launch makes one lookup, and admit sees the others",
			setup: func(t *testing.T, e *env) {
				e.mustLaunch(t, e.spec("tokA", "k0", 2))
				e.mustLaunch(t, e.spec("tokB", "k0", 1))
				e.resetCalls()
			},
			spec: func(e *env) LaunchSpec {
				return e.admitted(e.spec("tokA", "k1", 2), func(others []Instance) (float64, error) {
					if len(others) != 2 {
						return 0, fmt.Errorf("admit saw %d instances; want tokA's 2", len(others))
					}
					return 0, nil
				})
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				if res.Replayed || len(res.Instances) != 2 {
					t.Fatalf("Launch = %d instances, replayed %v; want 2 fresh", len(res.Instances), res.Replayed)
				}
				if n := e.callCount("DescribeInstances"); n != 1 {
					t.Errorf("DescribeInstances called %d times; want 1, the live list", n)
				}
			},
		},
		{
			name: "admit refuses, nothing launched",
			spec: func(e *env) LaunchSpec {
				return e.admitted(e.spec("tokA", "k1", 2), func([]Instance) (float64, error) {
					return 0, apperr.New(apperr.PolicyDenied, "rule maxRunning: test")
				})
			},
			wantCode: apperr.PolicyDenied,
			check: func(t *testing.T, e *env, res LaunchResult) {
				if e.callCount("CreateFleet")+e.callCount("CreateLaunchTemplate") != 0 || len(e.simInstances()) != 0 {
					t.Errorf("something was created after admit refused")
				}
			},
		},
		{
			name: "admit's price cap bounds the fleet",
			spec: func(e *env) LaunchSpec {
				return e.admitted(e.spec("tokA", "k1", 3), func([]Instance) (float64, error) { return 0.0001, nil })
			},
			wantCode: apperr.PriceTooLow,
			check: func(t *testing.T, e *env, res LaunchResult) {
				if n := len(e.simInstances()); n != 0 {
					t.Errorf("awssim has %d instances; a $0.0001/h cap pays for none", n)
				}
			},
		},
	}
}

// launchPools are launches whose pools the spec or the prices narrow.
func launchPools() []launchCase {
	return []launchCase{
		{
			name: "cheapest pool exhausted, next pool used",
			setup: func(t *testing.T, e *env) {
				p := e.dryPools(t)[0]
				if err := e.sim.SetCapacity(region, p.AZ, p.Type, false, 0); err != nil {
					t.Fatal(err)
				}
			},
			spec: func(e *env) LaunchSpec { return e.spec("tokA", "k1", 2) },
			check: func(t *testing.T, e *env, res LaunchResult) {
				cheapest := res.Pools[0]
				for _, in := range res.Instances {
					if in.Type == cheapest.Type && in.AZ == cheapest.AZ {
						t.Errorf("instance %s in exhausted pool %s/%s", in.ID, in.Type, in.AZ)
					}
				}
				if len(res.Instances) != 2 {
					t.Errorf("got %d instances; want 2", len(res.Instances))
				}
			},
		},
		{
			name: "subnets place instances",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 2)
				s.Subnets = []string{e.simRegion().Subnets["us-east-1b"]}
				return s
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				for _, in := range res.Instances {
					if in.AZ != "us-east-1b" {
						t.Errorf("instance %s in %s; want us-east-1b (the subnet's zone)", in.ID, in.AZ)
					}
				}
				if len(res.Pools) != 2 || res.Pools[0].Subnet == "" {
					t.Errorf("pools %v; want one per type in the subnet", res.Pools)
				}
			},
		},
		{
			name: "zones limit pools",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 2)
				s.AvailabilityZones = []string{"us-east-1c"}
				return s
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				for _, p := range res.Pools {
					if p.AZ != "us-east-1c" {
						t.Errorf("pool %v outside the zones asked for", p)
					}
				}
			},
		},
		{
			name: "max price skips dear pools",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 1)
				s.MaxPrice = 0.0001
				return s
			},
			wantCode: apperr.PriceTooLow,
			check: func(t *testing.T, e *env, res LaunchResult) {
				if e.callCount("CreateFleet") != 0 {
					t.Errorf("CreateFleet called although every pool is over maxPrice")
				}
			},
		},
	}
}

// launchCaps are launches that spot capacity or a price cap cuts short;
// t is the test that prices the pools for a cap.
func launchCaps(t *testing.T) []launchCase {
	return []launchCase{
		{
			name:  "all spot exhausted, on-demand fallback",
			setup: func(t *testing.T, e *env) { e.noSpot(t) },
			spec:  func(e *env) LaunchSpec { s := e.spec("tokA", "k1", 3); s.OnDemandFallback = true; return s },
			check: func(t *testing.T, e *env, res LaunchResult) {
				if len(res.Instances) != 3 {
					t.Fatalf("got %d instances; want 3 on-demand", len(res.Instances))
				}
				for _, in := range res.Instances {
					if in.Lifecycle != "on-demand" || in.Price <= 0 {
						t.Errorf("instance %+v; want on-demand with a price", in)
					}
				}
				if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "on-demand") }) {
					t.Errorf("warnings %q do not mention the fallback", res.Warnings)
				}
			},
		},
		{
			name:     "all spot exhausted, no fallback",
			setup:    func(t *testing.T, e *env) { e.noSpot(t) },
			spec:     func(e *env) LaunchSpec { return e.spec("tokA", "k1", 3) },
			wantCode: apperr.CapacityUnavailable,
			check: func(t *testing.T, e *env, res LaunchResult) {
				if n := len(e.simInstances()); n != 0 {
					t.Errorf("awssim has %d instances", n)
				}
			},
		},
		{
			name: "on-demand fallback refused over maxPrice",
			setup: func(t *testing.T, e *env) {
				e.noSpot(t)
			},
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 1)
				s.OnDemandFallback, s.MaxPrice = true, 0.05 // above spot, below m5/c5 on-demand
				return s
			},
			wantCode: apperr.CapacityUnavailable,
		},
		{
			name: "max total price caps the fleet",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 5)
				s.MaxTotalPrice = 0.0001 // less than one instance-hour anywhere
				return s
			},
			wantCode: apperr.PriceTooLow,
			check: func(t *testing.T, e *env, _ LaunchResult) {
				if e.callCount("CreateFleet") != 0 {
					t.Errorf("CreateFleet called although maxTotalPrice pays for nothing")
				}
			},
		},
		{
			name: "max total price caps the count",
			spec: func(e *env) LaunchSpec {
				s := e.spec("tokA", "k1", 5)
				s.MaxTotalPrice = e.dryPools(t)[0].Price.Dollars() * 2.5
				return s
			},
			check: func(t *testing.T, e *env, res LaunchResult) {
				if n := len(res.Instances); n < 1 || n > 2 || res.HourlyCost.Dollars() > e.dryPools(t)[0].Price.Dollars()*2.5+1e-9 {
					t.Errorf("got %d instances at $%v/h; want at most 2 within the cap", n, res.HourlyCost)
				}
				if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "maxTotalPrice") }) {
					t.Errorf("warnings %q do not name maxTotalPrice", res.Warnings)
				}
			},
		},
	}
}
