package awssim_test

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/awssim"
)

// archMismatch is EC2's text for a type that cannot run the AMI, spelled
// out here so a drift in awssim's copy shows.
func archMismatch(typeArch, amiArch string) string {
	return "The architecture '" + typeArch + "' of the specified instance type does not match the architecture '" + amiArch +
		"' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. " +
		"You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI."
}

func wantMismatch(t *testing.T, err error, typeArch, amiArch string) {
	t.Helper()
	wantErr(t, err, "InvalidParameterValue", http.StatusBadRequest)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != archMismatch(typeArch, amiArch) {
		t.Errorf("message = %q; want %q", ae.ErrorMessage(), archMismatch(typeArch, amiArch))
	}
}

func TestLaunchArchitecture(t *testing.T) {
	tests := []struct {
		name  string
		ami   string
		itype types.InstanceType
		spot  bool // RequestSpotInstances instead of RunInstances
		dry   bool
		// typeArch and amiArch are set when the launch must be refused.
		typeArch, amiArch string
	}{
		{name: "x86_64 AMI on t3", ami: x86AMI, itype: types.InstanceTypeT3Micro},
		{name: "x86_64 AMI on t4g", ami: x86AMI, itype: types.InstanceTypeT4gMicro, typeArch: "arm64", amiArch: "x86_64"},
		{name: "arm64 AMI on t4g", ami: armAMI, itype: types.InstanceTypeT4gMicro},
		{name: "arm64 AMI on m5", ami: armAMI, itype: types.InstanceTypeM5Large, typeArch: "x86_64", amiArch: "arm64"},
		{name: "refused before the dry run answers", ami: armAMI, itype: types.InstanceTypeT3Micro, dry: true, typeArch: "x86_64", amiArch: "arm64"},
		{name: "mac AMI runs on no catalogued type", ami: "ami-0f0f0f0f", itype: types.InstanceTypeC6gLarge, typeArch: "arm64", amiArch: "arm64_mac"},
		{name: "spot request: x86_64 AMI on c6g", spot: true, ami: x86AMI, itype: types.InstanceTypeC6gLarge, typeArch: "arm64", amiArch: "x86_64"},
		{name: "spot request: arm64 AMI on c6g", spot: true, ami: armAMI, itype: types.InstanceTypeC6gLarge},
	}
	w := mustWorld(t, awssim.Options{})
	mustSetImage(t, w, "us-east-1", armAMI, "arm64")
	mustSetImage(t, w, "us-east-1", "ami-0f0f0f0f", "arm64_mac")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			launched := 0
			if tt.spot {
				var out *ec2.RequestSpotInstancesOutput
				out, err = w.ec2.RequestSpotInstances(ctx(t), &ec2.RequestSpotInstancesInput{
					DryRun:              aws.Bool(tt.dry),
					LaunchSpecification: &types.RequestSpotLaunchSpecification{ImageId: aws.String(tt.ami), InstanceType: tt.itype},
				})
				if err == nil {
					launched = len(out.SpotInstanceRequests)
				}
			} else {
				var out *ec2.RunInstancesOutput
				out, err = w.ec2.RunInstances(ctx(t), &ec2.RunInstancesInput{
					ImageId: aws.String(tt.ami), InstanceType: tt.itype, MinCount: aws.Int32(1), MaxCount: aws.Int32(1), DryRun: aws.Bool(tt.dry),
				})
				if err == nil {
					launched = len(out.Instances)
				}
			}
			if tt.typeArch != "" {
				wantMismatch(t, err, tt.typeArch, tt.amiArch)
				return
			}
			if err != nil || launched != 1 {
				t.Fatalf("launch of %s on %s: %d, %v; want 1", tt.ami, tt.itype, launched, err)
			}
		})
	}
}

func TestCreateFleetArchitecture(t *testing.T) {
	tests := []struct {
		name string
		// arm64 registers the template's AMI as arm64 first.
		arm64 bool
		// t4gImage, if set, is an ImageId override on the t4g.micro pools.
		t4gImage          string
		wantType          []types.InstanceType // the types launched into
		refusedType       types.InstanceType   // the type of the pools in errorSet, if any
		typeArch, amiArch string
	}{
		{name: "x86_64 AMI launches only t3", wantType: []types.InstanceType{types.InstanceTypeT3Micro},
			refusedType: types.InstanceTypeT4gMicro, typeArch: "arm64", amiArch: "x86_64"},
		{name: "arm64 AMI launches only t4g", arm64: true, wantType: []types.InstanceType{types.InstanceTypeT4gMicro},
			refusedType: types.InstanceTypeT3Micro, typeArch: "x86_64", amiArch: "arm64"},
		{name: "an arm64 ImageId override lets both in", t4gImage: armAMI,
			wantType: []types.InstanceType{types.InstanceTypeT3Micro, types.InstanceTypeT4gMicro}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustWorld(t, awssim.Options{})
			mustTemplate(t, w, "fleet") // x86AMI on t3.micro
			if tt.arm64 {
				mustSetImage(t, w, "us-east-1", x86AMI, "arm64")
			}
			mustSetImage(t, w, "us-east-1", armAMI, "arm64")
			// diversified spreads over every pool it may use, so a matching
			// pool left out, or a refused one used, shows in the types.
			const target = 12
			in := fleetInput("", "diversified", target, types.InstanceTypeT3Micro, types.InstanceTypeT4gMicro)
			if tt.t4gImage != "" {
				in.LaunchTemplateConfigs[0].Overrides[1].ImageId = aws.String(tt.t4gImage)
			}
			out, err := w.ec2.CreateFleet(ctx(t), in)
			if err != nil {
				t.Fatalf("CreateFleet: %v", err)
			}
			if n := len(fleetIDs(out)); n != target {
				t.Errorf("fleet launched %d; want its target %d from the matching pools", n, target)
			}
			var got []types.InstanceType
			for _, in := range describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: fleetIDs(out)}) {
				if !slices.Contains(got, in.InstanceType) {
					got = append(got, in.InstanceType)
				}
			}
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			if !slices.Equal(got, tt.wantType) {
				t.Errorf("launched types %v; want %v", got, tt.wantType)
			}
			var zones []string
			for _, e := range out.Errors {
				lto := e.LaunchTemplateAndOverrides
				if lto == nil || lto.Overrides == nil {
					t.Fatalf("error without launchTemplateAndOverrides: %+v", e)
				}
				if aws.ToString(e.ErrorCode) != "InvalidParameterValue" || aws.ToString(e.ErrorMessage) != archMismatch(tt.typeArch, tt.amiArch) ||
					lto.Overrides.InstanceType != tt.refusedType || e.Lifecycle != types.InstanceLifecycleSpot {
					t.Errorf("error %s %q for %s (%s); want InvalidParameterValue %q for %s (spot)", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage),
						lto.Overrides.InstanceType, e.Lifecycle, archMismatch(tt.typeArch, tt.amiArch), tt.refusedType)
				}
				zones = append(zones, aws.ToString(lto.Overrides.AvailabilityZone))
			}
			sort.Strings(zones)
			want := usEast1Zones
			if tt.refusedType == "" {
				want = nil
			}
			if !slices.Equal(zones, want) {
				t.Errorf("refused pools in zones %v; want one per zone %v", zones, want)
			}
		})
	}
}
