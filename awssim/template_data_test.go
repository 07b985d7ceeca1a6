package awssim_test

import (
	"encoding/base64"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

// fullTemplateData sets every member awssim keeps, the ones spotter's own
// templates use first. Tag specifications are out of alphabetical order to
// show that their order survives.
func fullTemplateData() *types.RequestLaunchTemplateData {
	return &types.RequestLaunchTemplateData{
		ImageId:                           aws.String("ami-0123456789abcdef0"),
		InstanceType:                      types.InstanceTypeM5Large,
		KeyName:                           aws.String("ops"),
		UserData:                          aws.String(base64.StdEncoding.EncodeToString([]byte("#cloud-config\nruncmd: [echo hi]\n"))),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		SecurityGroupIds:                  []string{"sg-0aaa1111", "sg-0bbb2222"},
		SecurityGroups:                    []string{"default"},
		MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint:            types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			HttpPutResponseHopLimit: aws.Int32(2),
			HttpProtocolIpv6:        types.LaunchTemplateInstanceMetadataProtocolIpv6Disabled,
			InstanceMetadataTags:    types.LaunchTemplateInstanceMetadataTagsStateEnabled,
		},
		IamInstanceProfile: &types.LaunchTemplateIamInstanceProfileSpecificationRequest{
			Arn: aws.String("arn:aws:iam::123456789012:instance-profile/worker"),
		},
		InstanceMarketOptions: &types.LaunchTemplateInstanceMarketOptionsRequest{
			MarketType: types.MarketTypeSpot,
			SpotOptions: &types.LaunchTemplateSpotMarketOptionsRequest{
				MaxPrice:                     aws.String("0.05"),
				SpotInstanceType:             types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate,
			},
		},
		Placement: &types.LaunchTemplatePlacementRequest{AvailabilityZone: aws.String("us-east-1b")},
		TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{
			{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{
				{Key: aws.String("spotter:template"), Value: aws.String("spotter-abc")},
				{Key: aws.String("team"), Value: aws.String("red")},
			}},
			{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("from"), Value: aws.String("template")}}},
		},
	}
}

// TestCreateLaunchTemplateKeepsData checks, through /_sim/state, that a
// template keeps the members a read-back needs and launches did not: the
// version description, metadata options, and groups by id apart from
// groups by name.
func TestCreateLaunchTemplateKeepsData(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	if _, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("kept"),
		VersionDescription: aws.String("spotter launch spec"),
		LaunchTemplateData: fullTemplateData(),
	}); err != nil {
		t.Fatal(err)
	}
	lts := regionState(t, w.sim.State(), "us-east-1").Templates
	if len(lts) != 1 {
		t.Fatalf("%d templates in state; want 1", len(lts))
	}
	lt, d := lts[0], lts[0].Data
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"Description", lt.Description, "spotter launch spec"},
		{"GroupIDs", d.GroupIDs, []string{"sg-0aaa1111", "sg-0bbb2222"}},
		{"GroupNames", d.GroupNames, []string{"default"}},
		{"Metadata.HTTPTokens", d.Metadata.HTTPTokens, "required"},
		{"Metadata.HTTPEndpoint", d.Metadata.HTTPEndpoint, "enabled"},
		{"Metadata.HopLimit", d.Metadata.HopLimit, 2},
		{"IAMProfile.Arn", d.IAMProfile.Arn, "arn:aws:iam::123456789012:instance-profile/worker"},
		{"TagTypes", d.TagTypes, []string{"volume", "instance"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v; want %#v", c.field, c.got, c.want)
		}
	}
}

func TestCreateLaunchTemplateRefusesBadData(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	for name, tt := range map[string]struct {
		desc string
		md   *types.LaunchTemplateInstanceMetadataOptionsRequest
	}{
		"http tokens":      {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpTokens: "sometimes"}},
		"http endpoint":    {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpEndpoint: "on"}},
		"hop limit 0":      {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(0)}},
		"hop limit 65":     {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpPutResponseHopLimit: aws.Int32(65)}},
		"long description": {desc: strings.Repeat("d", 256)},
		"metadata tags":    {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{InstanceMetadataTags: "yes"}},
		"ipv6 endpoint":    {md: &types.LaunchTemplateInstanceMetadataOptionsRequest{HttpProtocolIpv6: "maybe"}},
	} {
		t.Run(name, func(t *testing.T) {
			in := &ec2.CreateLaunchTemplateInput{
				LaunchTemplateName: aws.String("bad-" + strings.ReplaceAll(name, " ", "-")),
				LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0"), MetadataOptions: tt.md},
			}
			if tt.desc != "" {
				in.VersionDescription = aws.String(tt.desc)
			}
			_, err := w.ec2.CreateLaunchTemplate(ctx(t), in)
			wantErr(t, err, "InvalidParameterValue", http.StatusBadRequest)
		})
	}
}

// TestLaunchFromTemplateKeepsGroups launches from a template with groups by
// id and by name and an instance profile: keeping them apart for read-back
// must not change what an instance shows.
func TestLaunchFromTemplateKeepsGroups(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	in := fullTemplateData()
	in.InstanceMarketOptions = nil
	if _, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("groups"), LaunchTemplateData: in}); err != nil {
		t.Fatal(err)
	}
	run, err := w.ec2.RunInstances(ctx(t), &ec2.RunInstancesInput{
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("groups"), Version: aws.String("$Default")},
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := run.Instances[0]
	var groups []string
	for _, g := range inst.SecurityGroups {
		groups = append(groups, aws.ToString(g.GroupId))
	}
	if want := []string{"sg-0aaa1111", "sg-0bbb2222", "default"}; !reflect.DeepEqual(groups, want) {
		t.Errorf("instance groups %v; want %v", groups, want)
	}
	if p := inst.IamInstanceProfile; p == nil || aws.ToString(p.Arn) != aws.ToString(in.IamInstanceProfile.Arn) {
		t.Errorf("instance profile %+v; want %s", p, aws.ToString(in.IamInstanceProfile.Arn))
	}
}
