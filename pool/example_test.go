package pool_test

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/pool"
)

// A reconciler's one decision: demand in, a CreateFleet and a terminate
// out. The launch is weighted capacity, so EC2 may meet 6 units with one
// c6i.2xlarge (4) and two c6i.large (1 each), whichever pools are
// cheapest with capacity.
func ExampleDecide() {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	p := pool.Pool{
		Name: "linux-ci", TokenID: "tok_abcdefghijklmnopqrst", Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2xlarge", Capacity: 4}},
		Subnets:       []string{"subnet-0a", "subnet-0b"}, MaxCapacity: 50, OnDemandBase: 1, OnDemandFallback: true,
	}
	if err := p.Normalize(); err != nil {
		panic(err)
	}
	d := pool.Decide(pool.Input{
		Pool: p, Now: now, Incarnation: "2026-11-30T09:00:00Z", Epoch: 41,
		Demand: pool.Demand{Pending: 6, Running: 1, At: now.Add(-3 * time.Second)},
		Instances: []pool.Instance{
			{ID: "i-0busy", State: pool.Busy, Capacity: 1, Launched: now.Add(-time.Hour), Price: 0.03},
			{ID: "i-0stuck", State: pool.Booting, Capacity: 1, Launched: now.Add(-11 * time.Minute), Price: 0.03},
		},
	})

	// Every launch config × subnet, weighted; the template (AMI, user data
	// with the TTL guard, tags including spotter:pool) is the pool's.
	var overrides []types.FleetLaunchTemplateOverridesRequest
	for _, lc := range d.Launch.Configs {
		for _, subnet := range p.Subnets {
			overrides = append(overrides, types.FleetLaunchTemplateOverridesRequest{
				InstanceType: types.InstanceType(lc.InstanceType), SubnetId: aws.String(subnet),
				WeightedCapacity: aws.Float64(float64(lc.Capacity)),
			})
		}
	}
	in := ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(d.Launch.ClientToken),
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(int32(d.Launch.Capacity)),
			OnDemandTargetCapacity:    aws.Int32(int32(d.Launch.OnDemand)),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		SpotOptions: &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategyPriceCapacityOptimized},
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateName: aws.String("spotter-pool-" + p.Name)},
			Overrides:                   overrides,
		}},
	}
	fmt.Println("desired", d.Desired, "capacity", d.Capacity)
	fmt.Println("launch", *in.TargetCapacitySpecification.TotalTargetCapacity, "units,", *in.TargetCapacitySpecification.OnDemandTargetCapacity, "on-demand, over", len(overrides), "overrides")
	fmt.Println("client token", (*in.ClientToken)[:8]+"…", "same on retry:", *in.ClientToken == pool.ClientToken("linux-ci", "2026-11-30T09:00:00Z", 41))
	fmt.Println("end", d.End)
	// Output:
	// desired 7 capacity 1
	// launch 6 units, 1 on-demand, over 4 overrides
	// client token spp-haou… same on retry: true
	// end [{i-0stuck boot_timeout}]
}
