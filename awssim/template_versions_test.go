package awssim_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

type tagSpec struct {
	rt   string
	tags [][2]string
}

func tagSpecsOf[T types.LaunchTemplateTagSpecificationRequest | types.LaunchTemplateTagSpecification](specs []T) []tagSpec {
	var out []tagSpec
	for _, s := range specs {
		var rt types.ResourceType
		var tags []types.Tag
		switch s := any(s).(type) {
		case types.LaunchTemplateTagSpecificationRequest:
			rt, tags = s.ResourceType, s.Tags
		case types.LaunchTemplateTagSpecification:
			rt, tags = s.ResourceType, s.Tags
		}
		ts := tagSpec{rt: string(rt)}
		for _, tg := range tags {
			ts.tags = append(ts.tags, [2]string{aws.ToString(tg.Key), aws.ToString(tg.Value)})
		}
		out = append(out, ts)
	}
	return out
}

// TestDescribeLaunchTemplateVersionsRoundTrip creates a template and reads
// it back member by member: what spotter wrote is what it reads.
func TestDescribeLaunchTemplateVersionsRoundTrip(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	in := fullTemplateData()
	created, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("round-trip"),
		VersionDescription: aws.String("spotter launch spec"),
		LaunchTemplateData: in,
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	lt := created.LaunchTemplate
	out, err := w.ec2.DescribeLaunchTemplateVersions(ctx(t), &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String("round-trip"),
		Versions:           []string{"$Latest"},
	})
	if err != nil {
		t.Fatalf("DescribeLaunchTemplateVersions: %v", err)
	}
	if len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("%d versions; want 1: %+v", len(out.LaunchTemplateVersions), out.LaunchTemplateVersions)
	}
	v := out.LaunchTemplateVersions[0]
	d := v.LaunchTemplateData
	if d == nil {
		t.Fatal("version without launchTemplateData")
	}
	md := d.MetadataOptions
	if md == nil {
		md = &types.LaunchTemplateInstanceMetadataOptions{}
	}
	iam := d.IamInstanceProfile
	if iam == nil {
		iam = &types.LaunchTemplateIamInstanceProfileSpecification{}
	}
	market, spot := d.InstanceMarketOptions, &types.LaunchTemplateSpotMarketOptions{}
	if market == nil {
		market = &types.LaunchTemplateInstanceMarketOptions{}
	}
	if market.SpotOptions != nil {
		spot = market.SpotOptions
	}
	placement := d.Placement
	if placement == nil {
		placement = &types.LaunchTemplatePlacement{}
	}
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"LaunchTemplateId", aws.ToString(v.LaunchTemplateId), aws.ToString(lt.LaunchTemplateId)},
		{"LaunchTemplateName", aws.ToString(v.LaunchTemplateName), "round-trip"},
		{"VersionNumber", aws.ToInt64(v.VersionNumber), int64(1)},
		{"VersionDescription", aws.ToString(v.VersionDescription), "spotter launch spec"},
		{"CreateTime", aws.ToTime(v.CreateTime), aws.ToTime(lt.CreateTime)},
		{"CreatedBy", aws.ToString(v.CreatedBy), aws.ToString(lt.CreatedBy)},
		{"DefaultVersion", aws.ToBool(v.DefaultVersion), true},
		{"ImageId", aws.ToString(d.ImageId), aws.ToString(in.ImageId)},
		{"InstanceType", d.InstanceType, in.InstanceType},
		{"KeyName", aws.ToString(d.KeyName), aws.ToString(in.KeyName)},
		{"UserData", aws.ToString(d.UserData), aws.ToString(in.UserData)},
		{"InstanceInitiatedShutdownBehavior", d.InstanceInitiatedShutdownBehavior, in.InstanceInitiatedShutdownBehavior},
		{"SecurityGroupIds", d.SecurityGroupIds, in.SecurityGroupIds},
		{"SecurityGroups", d.SecurityGroups, in.SecurityGroups},
		{"MetadataOptions.HttpTokens", string(md.HttpTokens), string(in.MetadataOptions.HttpTokens)},
		{"MetadataOptions.HttpEndpoint", string(md.HttpEndpoint), string(in.MetadataOptions.HttpEndpoint)},
		{"MetadataOptions.HttpPutResponseHopLimit", aws.ToInt32(md.HttpPutResponseHopLimit), int32(2)},
		{"MetadataOptions.HttpProtocolIpv6", string(md.HttpProtocolIpv6), string(in.MetadataOptions.HttpProtocolIpv6)},
		{"MetadataOptions.InstanceMetadataTags", string(md.InstanceMetadataTags), string(in.MetadataOptions.InstanceMetadataTags)},
		{"IamInstanceProfile.Arn", aws.ToString(iam.Arn), aws.ToString(in.IamInstanceProfile.Arn)},
		{"IamInstanceProfile.Name", aws.ToString(iam.Name), ""},
		{"InstanceMarketOptions.MarketType", market.MarketType, types.MarketTypeSpot},
		{"SpotOptions.MaxPrice", aws.ToString(spot.MaxPrice), "0.05"},
		{"SpotOptions.SpotInstanceType", spot.SpotInstanceType, types.SpotInstanceTypeOneTime},
		{"SpotOptions.InstanceInterruptionBehavior", spot.InstanceInterruptionBehavior, types.InstanceInterruptionBehaviorTerminate},
		{"Placement.AvailabilityZone", aws.ToString(placement.AvailabilityZone), "us-east-1b"},
		{"TagSpecifications", tagSpecsOf(d.TagSpecifications), tagSpecsOf(in.TagSpecifications)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v; want %#v", c.field, c.got, c.want)
		}
	}
}

// TestDescribeLaunchTemplateVersionsOnlyGiven reads back a template made
// of an image alone: members never given stay absent rather than empty.
func TestDescribeLaunchTemplateVersionsOnlyGiven(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	_, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("bare"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{
			ImageId:            aws.String("ami-0123456789abcdef0"),
			IamInstanceProfile: &types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String("worker")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.ec2.DescribeLaunchTemplateVersions(ctx(t), &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("bare")})
	if err != nil || len(out.LaunchTemplateVersions) != 1 {
		t.Fatalf("DescribeLaunchTemplateVersions = %+v, %v", out, err)
	}
	v := out.LaunchTemplateVersions[0]
	d := v.LaunchTemplateData
	if v.VersionDescription != nil || d.MetadataOptions != nil || d.InstanceMarketOptions != nil || d.Placement != nil ||
		d.UserData != nil || d.KeyName != nil || d.InstanceType != "" || d.SecurityGroupIds != nil || d.TagSpecifications != nil {
		t.Errorf("members never given were read back: %+v", d)
	}
	if p := d.IamInstanceProfile; p == nil || aws.ToString(p.Name) != "worker" || p.Arn != nil {
		t.Errorf("IamInstanceProfile = %+v; want the name alone", p)
	}
}

func TestDescribeLaunchTemplateVersionsLookup(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	id := mustTemplate(t, w, "web")
	// The deleted template's id is well formed and names nothing.
	goneID := mustTemplate(t, w, "gone")
	if _, err := w.ec2.DeleteLaunchTemplate(ctx(t), &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(goneID)}); err != nil {
		t.Fatal(err)
	}
	filter := func(name string, vals ...string) []types.Filter {
		return []types.Filter{{Name: aws.String(name), Values: vals}}
	}
	for name, tt := range map[string]struct {
		in       ec2.DescribeLaunchTemplateVersionsInput
		wantCode string // "" for success
		wantN    int    // versions listed on success
	}{
		"by name":                  {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web")}, wantN: 1},
		"by id":                    {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id)}, wantN: 1},
		"$Latest":                  {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), Versions: []string{"$Latest"}}, wantN: 1},
		"$Default":                 {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{"$Default"}}, wantN: 1},
		"version 1":                {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{"1"}}, wantN: 1},
		"three names, one version": {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{"$Latest", "$Default", "1"}}, wantN: 1},
		"in version range":         {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), MinVersion: aws.String("1"), MaxVersion: aws.String("3")}, wantN: 1},
		"above version range":      {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), MinVersion: aws.String("2")}, wantN: 0},
		"page size":                {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), MaxResults: aws.Int32(5)}, wantN: 1},
		"filter matches":           {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Filters: filter("image-id", "ami-0123*")}, wantN: 1},
		"filter excludes":          {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Filters: filter("instance-type", "m5.large")}, wantN: 0},
		"filter on unkept member":  {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Filters: filter("kernel-id", "aki-1")}, wantN: 0},
		"unknown filter":           {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Filters: filter("flavour", "x")}, wantCode: "InvalidParameterValue"},
		"unknown name":             {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("nope")}, wantCode: "InvalidLaunchTemplateName.NotFoundException"},
		"unknown id":               {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(goneID)}, wantCode: "InvalidLaunchTemplateId.NotFound"},
		"malformed id":             {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String("template-1")}, wantCode: "InvalidLaunchTemplateId.Malformed"},
		"unknown version":          {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), Versions: []string{"$Latest", "2"}}, wantCode: "InvalidLaunchTemplateId.VersionNotFound"},
		"neither id nor name":      {in: ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}}, wantCode: "MissingParameter"},
		"both id and name":         {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id), LaunchTemplateName: aws.String("web")}, wantCode: "InvalidParameterCombination"},
		"dry run":                  {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("web"), DryRun: aws.Bool(true)}, wantCode: "DryRunOperation"},
		"dry run of unknown name":  {in: ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateName: aws.String("nope"), DryRun: aws.Bool(true)}, wantCode: "InvalidLaunchTemplateName.NotFoundException"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := w.ec2.DescribeLaunchTemplateVersions(ctx(t), &tt.in)
			if tt.wantCode != "" {
				status := http.StatusBadRequest
				if tt.wantCode == "DryRunOperation" {
					status = http.StatusPreconditionFailed
				}
				wantErr(t, err, tt.wantCode, status)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.LaunchTemplateVersions) != tt.wantN {
				t.Fatalf("%d versions; want %d: %+v", len(out.LaunchTemplateVersions), tt.wantN, out.LaunchTemplateVersions)
			}
			if out.NextToken != nil {
				t.Errorf("NextToken %q; one page holds every answer", aws.ToString(out.NextToken))
			}
			for _, v := range out.LaunchTemplateVersions {
				if aws.ToString(v.LaunchTemplateId) != id || aws.ToInt64(v.VersionNumber) != 1 || !aws.ToBool(v.DefaultVersion) {
					t.Errorf("version %+v; want version 1 of %s, the default", v, id)
				}
			}
		})
	}
}
