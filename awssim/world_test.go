package awssim_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

func TestSpotPriceHistory(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	now := w.clock.Now()
	cur, err := w.ec2.DescribeSpotPriceHistory(ctx(t), &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []types.InstanceType{types.InstanceTypeM5Large},
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(now), EndTime: aws.Time(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.SpotPriceHistory) != len(usEast1Zones) {
		t.Fatalf("current m5.large prices: %d entries; want one per zone (%d)", len(cur.SpotPriceHistory), len(usEast1Zones))
	}
	byZone := map[string]float64{}
	for _, p := range pools(w, "m5.large") {
		byZone[p.AZ] = p.SpotPrice
	}
	for _, e := range cur.SpotPriceHistory {
		got, _ := strconv.ParseFloat(aws.ToString(e.SpotPrice), 64)
		// Range from the checked-in catalogue (ec2instances.info spot_min/spot_max).
		if got < 0.0315 || got > 0.0383 {
			t.Errorf("m5.large price %v outside its catalogue range [0.0315, 0.0383]", got)
		}
		if want := byZone[aws.ToString(e.AvailabilityZone)]; got != want {
			t.Errorf("history price %v in %s differs from /_sim/state's %v", got, aws.ToString(e.AvailabilityZone), want)
		}
	}

	// A day of history, one change an hour per zone, read through the paginator.
	p := ec2.NewDescribeSpotPriceHistoryPaginator(w.ec2, &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes: []types.InstanceType{types.InstanceTypeM5Large, types.InstanceTypeC5Large},
		StartTime:     aws.Time(now.Add(-24 * time.Hour)), EndTime: aws.Time(now),
		MaxResults: aws.Int32(40),
		Filters:    []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1a", "us-east-1b"}}},
	})
	entries, pages, distinct := 0, 0, map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range page.SpotPriceHistory {
			entries++
			distinct[aws.ToString(e.SpotPrice)] = true
			if z := aws.ToString(e.AvailabilityZone); z == "us-east-1c" {
				t.Errorf("filter leaked zone %s", z)
			}
		}
	}
	// 25 hourly buckets (the one in force at StartTime included) × 2 types × 2 zones.
	if entries != 100 || pages != 3 {
		t.Errorf("history: %d entries in %d pages; want 100 in 3", entries, pages)
	}
	if len(distinct) < 5 {
		t.Errorf("prices barely move: %d distinct values in a day", len(distinct))
	}

	// Same seed, same world: another Sim reports identical prices.
	w2 := mustWorld(t, awssim.Options{Seed: 42})
	for _, p := range pools(w2, "m5.large") {
		if p.SpotPrice != byZone[p.AZ] {
			t.Errorf("seeded price differs between Sims: %v vs %v in %s", p.SpotPrice, byZone[p.AZ], p.AZ)
		}
	}
}

func TestDescribeInstanceTypesAndZones(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	var all []types.InstanceTypeInfo
	p := ec2.NewDescribeInstanceTypesPaginator(w.ec2, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.InstanceTypes...)
	}
	// us-east-1 offers some 870 current types in the data set.
	if len(all) < 800 {
		t.Errorf("us-east-1 offers %d types; want at least 800", len(all))
	}
	arm, gpu := 0, 0
	for _, it := range all {
		if it.ProcessorInfo.SupportedArchitectures[0] == types.ArchitectureTypeArm64 {
			arm++
		}
		if it.GpuInfo != nil {
			gpu++
		}
	}
	if arm == 0 || gpu == 0 {
		t.Errorf("catalogue has %d ARM and %d GPU types; want some of each", arm, gpu)
	}
	one, err := w.ec2.DescribeInstanceTypes(ctx(t), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeM5Large}})
	if err != nil {
		t.Fatal(err)
	}
	it := one.InstanceTypes[0]
	if aws.ToInt32(it.VCpuInfo.DefaultVCpus) != 2 || aws.ToInt64(it.MemoryInfo.SizeInMiB) != 8192 {
		t.Errorf("m5.large = %d vCPU, %d MiB; want 2 and 8192", aws.ToInt32(it.VCpuInfo.DefaultVCpus), aws.ToInt64(it.MemoryInfo.SizeInMiB))
	}
	armPages := ec2.NewDescribeInstanceTypesPaginator(w.ec2, &ec2.DescribeInstanceTypesInput{Filters: []types.Filter{{Name: aws.String("processor-info.supported-architecture"), Values: []string{"arm64"}}}})
	arms := 0
	for armPages.HasMorePages() {
		page, err := armPages.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		arms += len(page.InstanceTypes)
	}
	if arms != arm {
		t.Errorf("arm64 filter found %d; want %d", arms, arm)
	}

	// Zone counts as EC2 has them; regions the data set has no zone ids
	// for get three.
	for region, n := range map[string]int{"us-east-1": 6, "us-west-2": 4, "us-west-1": 2, "eu-west-1": 3, "ap-southeast-2": 3, "mx-central-1": 3} {
		e, _ := w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", region)
		az, err := e.DescribeAvailabilityZones(ctx(t), &ec2.DescribeAvailabilityZonesInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(az.AvailabilityZones) != n || aws.ToString(az.AvailabilityZones[0].RegionName) != region {
			t.Errorf("%s: %d zones; want %d", region, len(az.AvailabilityZones), n)
		}
	}
	// GovCloud and China are other partitions, not emulated.
	e, _ := w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", "us-gov-west-1")
	_, err = e.DescribeAvailabilityZones(ctx(t), &ec2.DescribeAvailabilityZonesInput{})
	wantErr(t, err, "AuthFailure", http.StatusUnauthorized)
}

func TestRegionsAreSeparate(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	west, _ := w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", "us-west-2")
	out, err := west.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	if z := aws.ToString(out.Instances[0].Placement.AvailabilityZone); z[:len("us-west-2")] != "us-west-2" {
		t.Errorf("us-west-2 launch placed in %s", z)
	}
	if n := len(describeAll(t, w.ec2, &ec2.DescribeInstancesInput{})); n != 0 {
		t.Errorf("us-east-1 sees %d instances launched in us-west-2", n)
	}
}

func TestLegacySpotRequests(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	req := &ec2.RequestSpotInstancesInput{
		InstanceCount: aws.Int32(2),
		SpotPrice:     aws.String("0.05"),
		LaunchSpecification: &types.RequestSpotLaunchSpecification{
			ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
			Placement: &types.SpotPlacement{AvailabilityZone: aws.String("us-east-1a")},
		},
	}
	out, err := w.ec2.RequestSpotInstances(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range out.SpotInstanceRequests {
		if sr.State != types.SpotInstanceStateActive || aws.ToString(sr.Status.Code) != "fulfilled" || aws.ToString(sr.InstanceId) == "" {
			t.Errorf("request %s: %s/%s instance %q; want active/fulfilled with an instance", aws.ToString(sr.SpotInstanceRequestId), sr.State, aws.ToString(sr.Status.Code), aws.ToString(sr.InstanceId))
		}
	}

	// No capacity: the request stays open, then is fulfilled once capacity returns.
	if err := w.sim.SetCapacity("us-east-1", "us-east-1a", "m5.large", false, 0); err != nil {
		t.Fatal(err)
	}
	req.InstanceCount = aws.Int32(1)
	held, err := w.ec2.RequestSpotInstances(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	sr := held.SpotInstanceRequests[0]
	if sr.State != types.SpotInstanceStateOpen || aws.ToString(sr.Status.Code) != "capacity-not-available" {
		t.Errorf("starved request: %s/%s; want open/capacity-not-available", sr.State, aws.ToString(sr.Status.Code))
	}
	if err := w.sim.SetCapacity("us-east-1", "us-east-1a", "m5.large", false, 1); err != nil {
		t.Fatal(err)
	}
	desc, err := w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{aws.ToString(sr.SpotInstanceRequestId)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.SpotInstanceRequests[0]; got.State != types.SpotInstanceStateActive {
		t.Errorf("request after capacity returned: %s/%s; want active", got.State, aws.ToString(got.Status.Code))
	}

	// Cancelling leaves the instances running.
	var reqIDs []string
	for _, r := range out.SpotInstanceRequests {
		reqIDs = append(reqIDs, aws.ToString(r.SpotInstanceRequestId))
	}
	cancel, err := w.ec2.CancelSpotInstanceRequests(ctx(t), &ec2.CancelSpotInstanceRequestsInput{SpotInstanceRequestIds: reqIDs})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cancel.CancelledSpotInstanceRequests {
		if c.State != types.CancelSpotInstanceRequestStateCancelled {
			t.Errorf("cancel %s: %s", aws.ToString(c.SpotInstanceRequestId), c.State)
		}
	}
	running := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("spot-instance-request-id"), Values: reqIDs}}})
	for _, in := range running {
		if in.State.Name == types.InstanceStateNameTerminated || in.State.Name == types.InstanceStateNameShuttingDown {
			t.Errorf("cancelling the request ended instance %s", aws.ToString(in.InstanceId))
		}
	}
	if len(running) != 2 {
		t.Errorf("found %d instances by spot request id; want 2", len(running))
	}
	filtered, err := w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{Filters: []types.Filter{{Name: aws.String("state"), Values: []string{"cancelled"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered.SpotInstanceRequests) != 2 {
		t.Errorf("state=cancelled matched %d; want 2", len(filtered.SpotInstanceRequests))
	}
	_, err = w.ec2.DescribeSpotInstanceRequests(ctx(t), &ec2.DescribeSpotInstanceRequestsInput{SpotInstanceRequestIds: []string{"sir-00000000"}})
	wantErr(t, err, "InvalidSpotInstanceRequestID.NotFound", http.StatusBadRequest)
}

// Types users ask for are there, and a type the data set does not price in
// a region is not offered there: DescribeInstanceTypes does not list it and
// a launch is refused, as on EC2.
func TestRealisticCatalogue(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	tests := []struct {
		name, region string
		itype        types.InstanceType
		wantCode     string
	}{
		{name: "m5a.large in us-east-1", region: "us-east-1", itype: "m5a.large"},
		{name: "g6.xlarge in us-east-1", region: "us-east-1", itype: "g6.xlarge"},
		{name: "c7a.medium in us-east-1", region: "us-east-1", itype: "c7a.medium"},
		{name: "m5a.large in ap-southeast-2", region: "ap-southeast-2", itype: "m5a.large"},
		{name: "g6.xlarge not offered in eu-west-1", region: "eu-west-1", itype: "g6.xlarge", wantCode: "InvalidInstanceType"},
		{name: "unknown type", region: "us-east-1", itype: "m5a.gigantic", wantCode: "InvalidInstanceType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", tt.region)
			out, err := e.DescribeInstanceTypes(ctx(t), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{tt.itype}})
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, http.StatusBadRequest)
				_, err = e.RunInstances(ctx(t), &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: tt.itype, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
				if tt.wantCode == "InvalidInstanceType" && tt.itype != "m5a.gigantic" {
					wantErr(t, err, "Unsupported", http.StatusBadRequest)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.InstanceTypes) != 1 || aws.ToInt32(out.InstanceTypes[0].VCpuInfo.DefaultVCpus) == 0 {
				t.Fatalf("DescribeInstanceTypes(%s) = %+v", tt.itype, out.InstanceTypes)
			}
			if tt.itype == "g6.xlarge" {
				g := out.InstanceTypes[0].GpuInfo
				if g == nil || len(g.Gpus) != 1 || aws.ToString(g.Gpus[0].Manufacturer) != "NVIDIA" || aws.ToString(g.Gpus[0].Name) != "L4" ||
					aws.ToInt32(g.Gpus[0].Count) != 1 || aws.ToInt32(g.Gpus[0].MemoryInfo.SizeInMiB) != 24576 || aws.ToInt32(g.TotalGpuMemoryInMiB) != 24576 {
					t.Errorf("g6.xlarge gpuInfo = %+v; want one NVIDIA L4 with 24 GiB", g)
				}
			}
			if _, err := e.RunInstances(ctx(t), &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: tt.itype, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}); err != nil {
				t.Errorf("RunInstances(%s) in %s: %v", tt.itype, tt.region, err)
			}
		})
	}
}
