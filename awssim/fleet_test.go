package awssim_test

import (
	"net/http"
	"sort"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

func mustTemplate(t *testing.T, w *testWorld, name string) string {
	t.Helper()
	out, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &types.RequestLaunchTemplateData{
			ImageId:                           aws.String("ami-0123456789abcdef0"),
			InstanceType:                      types.InstanceTypeT3Micro,
			InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
			TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{
				ResourceType: types.ResourceTypeInstance,
				Tags:         []types.Tag{{Key: aws.String("from"), Value: aws.String("template")}},
			}},
		},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate(%s): %v", name, err)
	}
	return aws.ToString(out.LaunchTemplate.LaunchTemplateId)
}

func TestLaunchTemplates(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	id := mustTemplate(t, w, "web")
	_, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"), LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-1")}})
	wantErr(t, err, "InvalidLaunchTemplateName.AlreadyExistsException", http.StatusBadRequest)
	_, err = w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("x"), LaunchTemplateData: &types.RequestLaunchTemplateData{}})
	wantErr(t, err, "InvalidLaunchTemplateName.MalformedException", http.StatusBadRequest)

	desc, err := w.ec2.DescribeLaunchTemplates(ctx(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.LaunchTemplates) != 1 || aws.ToString(desc.LaunchTemplates[0].LaunchTemplateId) != id {
		t.Fatalf("DescribeLaunchTemplates(web) = %+v; want %s", desc.LaunchTemplates, id)
	}

	// RunInstances from the template takes its data and tags.
	run, err := w.ec2.RunInstances(ctx(t), &ec2.RunInstancesInput{
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("web"), Version: aws.String("$Latest")},
	})
	if err != nil {
		t.Fatalf("RunInstances from template: %v", err)
	}
	in := run.Instances[0]
	if in.InstanceType != types.InstanceTypeT3Micro || len(in.Tags) != 1 || aws.ToString(in.Tags[0].Value) != "template" {
		t.Errorf("instance from template: type %s tags %+v", in.InstanceType, in.Tags)
	}

	if _, err := w.ec2.DeleteLaunchTemplate(ctx(t), &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)}); err != nil {
		t.Fatalf("DeleteLaunchTemplate: %v", err)
	}
	_, err = w.ec2.DeleteLaunchTemplate(ctx(t), &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(id)})
	wantErr(t, err, "InvalidLaunchTemplateId.NotFound", http.StatusBadRequest)
	_, err = w.ec2.DescribeLaunchTemplates(ctx(t), &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"web"}})
	wantErr(t, err, "InvalidLaunchTemplateName.NotFoundException", http.StatusBadRequest)
}

// fleetInput asks for total spot units over types × all zones.
func fleetInput(token, strategy string, total int32, itypes ...types.InstanceType) *ec2.CreateFleetInput {
	var ovs []types.FleetLaunchTemplateOverridesRequest
	for _, it := range itypes {
		ovs = append(ovs, types.FleetLaunchTemplateOverridesRequest{InstanceType: it})
	}
	in := &ec2.CreateFleetInput{
		Type: types.FleetTypeInstant,
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateName: aws.String("fleet"), Version: aws.String("$Default")},
			Overrides:                   ovs,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(total),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		SpotOptions: &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategy(strategy)},
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	return in
}

func fleetIDs(out *ec2.CreateFleetOutput) []string {
	var ids []string
	for _, f := range out.Instances {
		ids = append(ids, f.InstanceIds...)
	}
	sort.Strings(ids)
	return ids
}

// pools returns the current spot pools of a type in us-east-1.
func pools(w *testWorld, itype string) []awssim.PoolState {
	out, err := w.sim.Pools("us-east-1", itype)
	if err != nil {
		panic(err)
	}
	return out
}

func TestCreateFleetStrategies(t *testing.T) {
	byPrice := func(ps []awssim.PoolState) []awssim.PoolState {
		sort.Slice(ps, func(i, j int) bool { return ps[i].SpotPrice < ps[j].SpotPrice })
		return ps
	}
	tests := []struct {
		name     string
		strategy string
		// plan sets per-zone capacity for the m5.large pools (given
		// cheapest first) and names the zone the strategy must pick.
		plan func(cheapestFirst []awssim.PoolState) (capacity map[string]int, want string)
	}{
		{
			name: "lowest-price takes the cheapest pool", strategy: "lowest-price",
			plan: func(ps []awssim.PoolState) (map[string]int, string) {
				return map[string]int{ps[0].AZ: 5, ps[1].AZ: 90, ps[2].AZ: 90}, ps[0].AZ
			},
		},
		{
			name: "capacity-optimized takes the deepest pool", strategy: "capacity-optimized",
			plan: func(ps []awssim.PoolState) (map[string]int, string) {
				return map[string]int{ps[0].AZ: 40, ps[1].AZ: 10, ps[2].AZ: 90}, ps[2].AZ
			},
		},
		{
			name: "price-capacity-optimized skips a cheap shallow pool", strategy: "price-capacity-optimized",
			plan: func(ps []awssim.PoolState) (map[string]int, string) {
				return map[string]int{ps[0].AZ: 3, ps[1].AZ: 85, ps[2].AZ: 90}, ps[1].AZ
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{})
			mustTemplate(t, w, "fleet")
			ps := byPrice(pools(w, "m5.large"))
			if ps[0].SpotPrice == ps[1].SpotPrice || ps[1].SpotPrice == ps[2].SpotPrice {
				t.Fatalf("pools share a price, the test cannot tell strategies apart: %+v", ps)
			}
			capacity, want := tt.plan(ps)
			for z, n := range capacity {
				if err := w.sim.SetCapacity("us-east-1", z, "m5.large", false, n); err != nil {
					t.Fatal(err)
				}
			}
			out, err := w.ec2.CreateFleet(ctx(t), fleetInput("", tt.strategy, 2, types.InstanceTypeM5Large))
			if err != nil {
				t.Fatalf("CreateFleet: %v", err)
			}
			if len(out.Errors) != 0 {
				t.Errorf("CreateFleet errors: %+v", out.Errors)
			}
			got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: fleetIDs(out)})
			if len(got) != 2 {
				t.Fatalf("fleet launched %d instances; want 2", len(got))
			}
			for _, in := range got {
				if z := aws.ToString(in.Placement.AvailabilityZone); z != want {
					t.Errorf("%s placed in %s; want %s (pools %+v)", tt.strategy, z, want, ps)
				}
				if in.InstanceLifecycle != types.InstanceLifecycleTypeSpot {
					t.Errorf("fleet instance lifecycle %q; want spot", in.InstanceLifecycle)
				}
				if !hasTag(in.Tags, "aws:ec2:fleet-id", aws.ToString(out.FleetId)) || !hasTag(in.Tags, "from", "template") {
					t.Errorf("fleet instance tags %+v; want aws:ec2:fleet-id and the template's", in.Tags)
				}
			}
		})
	}
}

func hasTag(tags []types.Tag, k, v string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == k && aws.ToString(t.Value) == v {
			return true
		}
	}
	return false
}

func TestCreateFleetPartialFailure(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	mustTemplate(t, w, "fleet")
	// Only 3 c5.large left in the whole region, none of m5.large.
	if err := w.sim.SetCapacity("us-east-1", "", "m5.large", false, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.SetCapacity("us-east-1", "", "c5.large", false, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.SetCapacity("us-east-1", "us-east-1b", "c5.large", false, 3); err != nil {
		t.Fatal(err)
	}
	out, err := w.ec2.CreateFleet(ctx(t), fleetInput("", "lowest-price", 5, types.InstanceTypeM5Large, types.InstanceTypeC5Large))
	if err != nil {
		t.Fatalf("CreateFleet with partial capacity returned an error instead of errorSet: %v", err)
	}
	if n := len(fleetIDs(out)); n != 3 {
		t.Errorf("fleet launched %d; want the 3 available", n)
	}
	if len(out.Errors) == 0 {
		t.Fatal("errorSet is empty though the target was missed")
	}
	for _, e := range out.Errors {
		if aws.ToString(e.ErrorCode) != "InsufficientInstanceCapacity" {
			t.Errorf("error code %q; want InsufficientInstanceCapacity", aws.ToString(e.ErrorCode))
		}
		if e.LaunchTemplateAndOverrides == nil || e.LaunchTemplateAndOverrides.Overrides == nil {
			t.Errorf("error without launchTemplateAndOverrides: %+v", e)
		}
	}
	// Nothing left: a spot RunInstances in that pool is refused.
	in := spotRun("", 1)
	in.InstanceType = types.InstanceTypeC5Large
	in.Placement = &types.Placement{AvailabilityZone: aws.String("us-east-1b")}
	_, err = w.ec2.RunInstances(ctx(t), in)
	wantErr(t, err, "InsufficientInstanceCapacity", http.StatusInternalServerError)
	// On-demand capacity is separate and still there.
	in.InstanceMarketOptions = nil
	if _, err := w.ec2.RunInstances(ctx(t), in); err != nil {
		t.Errorf("on-demand RunInstances after spot ran dry: %v", err)
	}
}

func TestCreateFleetBudgetsAndIdempotency(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	mustTemplate(t, w, "fleet")
	ps := pools(w, "m5.large")
	sort.Slice(ps, func(i, j int) bool { return ps[i].SpotPrice < ps[j].SpotPrice })
	// Room for exactly two of the cheapest at the current price.
	budget := ps[0].SpotPrice*2 + ps[0].SpotPrice/2
	in := fleetInput("fleet-token", "lowest-price", 10, types.InstanceTypeM5Large)
	in.SpotOptions.MaxTotalPrice = aws.String(strconv.FormatFloat(budget, 'f', 6, 64))
	out, err := w.ec2.CreateFleet(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fleetIDs(out)); n != 2 {
		t.Errorf("MaxTotalPrice %.6f at %.6f each launched %d; want 2", budget, ps[0].SpotPrice, n)
	}
	again, err := w.ec2.CreateFleet(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.FleetId) != aws.ToString(out.FleetId) || len(fleetIDs(again)) != 2 {
		t.Errorf("retry with the same token made fleet %s with %d; want %s with 2", aws.ToString(again.FleetId), len(fleetIDs(again)), aws.ToString(out.FleetId))
	}
	in.TargetCapacitySpecification.TotalTargetCapacity = aws.Int32(11)
	_, err = w.ec2.CreateFleet(ctx(t), in)
	wantErr(t, err, "IdempotentParameterMismatch", http.StatusBadRequest)

	// A max price below every pool yields no instances and a price error.
	low := fleetInput("", "lowest-price", 1, types.InstanceTypeM5Large)
	low.LaunchTemplateConfigs[0].Overrides[0].MaxPrice = aws.String("0.000100")
	out, err = w.ec2.CreateFleet(ctx(t), low)
	if err != nil {
		t.Fatal(err)
	}
	if len(fleetIDs(out)) != 0 || len(out.Errors) == 0 || aws.ToString(out.Errors[0].ErrorCode) != "SpotMaxPriceTooLow" {
		t.Errorf("fleet under its max price: %d instances, errors %+v", len(fleetIDs(out)), out.Errors)
	}

	// On-demand target in a mixed fleet.
	mixed := fleetInput("", "lowest-price", 3, types.InstanceTypeM5Large)
	mixed.TargetCapacitySpecification.OnDemandTargetCapacity = aws.Int32(1)
	mixed.TargetCapacitySpecification.SpotTargetCapacity = aws.Int32(2)
	out, err = w.ec2.CreateFleet(ctx(t), mixed)
	if err != nil {
		t.Fatal(err)
	}
	life := map[types.InstanceLifecycle]int{}
	for _, f := range out.Instances {
		life[f.Lifecycle] += len(f.InstanceIds)
	}
	if life[types.InstanceLifecycleSpot] != 2 || life[types.InstanceLifecycleOnDemand] != 1 {
		t.Errorf("mixed fleet lifecycles = %v; want 2 spot, 1 on-demand", life)
	}

	dry := fleetInput("", "lowest-price", 1, types.InstanceTypeM5Large)
	dry.DryRun = aws.Bool(true)
	_, err = w.ec2.CreateFleet(ctx(t), dry)
	wantErr(t, err, "DryRunOperation", http.StatusPreconditionFailed)
	bad := fleetInput("", "lowest-price", 1, types.InstanceTypeM5Large)
	bad.LaunchTemplateConfigs[0].LaunchTemplateSpecification.Version = nil
	_, err = w.ec2.CreateFleet(ctx(t), bad)
	wantErr(t, err, "MissingParameter", http.StatusBadRequest)
}
