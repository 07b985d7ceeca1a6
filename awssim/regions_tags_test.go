package awssim_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

func TestDescribeRegions(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	tests := []struct {
		name     string
		in       *ec2.DescribeRegionsInput
		want     int
		check    string // a region that must be listed
		wantCode string
	}{
		{name: "all", in: &ec2.DescribeRegionsInput{}, want: len(w.sim.Regions()), check: "ap-southeast-2"},
		{name: "AllRegions", in: &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)}, want: len(w.sim.Regions())},
		{name: "by name", in: &ec2.DescribeRegionsInput{RegionNames: []string{"eu-west-1", "ap-southeast-2"}}, want: 2, check: "eu-west-1"},
		{name: "opted-in only", in: &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("opt-in-status"), Values: []string{"opted-in"}}}}, want: 15, check: "af-south-1"},
		{name: "endpoint wildcard", in: &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("endpoint"), Values: []string{"*.us-*"}}}}, want: 4, check: "us-west-1"},
		{name: "unknown region", in: &ec2.DescribeRegionsInput{RegionNames: []string{"us-gov-west-1"}}, wantCode: "InvalidParameterValue"},
		{name: "unknown filter", in: &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}}}, wantCode: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.ec2.DescribeRegions(ctx(t), tt.in)
			if tt.wantCode != "" {
				wantErr(t, err, tt.wantCode, http.StatusBadRequest)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Regions) != tt.want {
				t.Errorf("%d regions; want %d", len(out.Regions), tt.want)
			}
			if tt.check != "" && !slices.ContainsFunc(out.Regions, func(r types.Region) bool {
				return aws.ToString(r.RegionName) == tt.check && aws.ToString(r.Endpoint) == "ec2."+tt.check+".amazonaws.com"
			}) {
				t.Errorf("%s (with its endpoint) not listed: %+v", tt.check, out.Regions)
			}
		})
	}
}

func TestDescribeTags(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	red := mustRun(t, w, spotRun("", 3, "team", "red", "Name", "box"))
	blue := mustRun(t, w, spotRun("", 1, "team", "blue"))
	lt, err := w.ec2.CreateLaunchTemplate(ctx(t), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("tagged"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")},
		TagSpecifications:  []types.TagSpecification{{ResourceType: types.ResourceTypeLaunchTemplate, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("red")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name     string
		in       *ec2.DescribeTagsInput
		want     int
		wantCode string
	}{
		{name: "all", in: &ec2.DescribeTagsInput{}, want: 3*2 + 1 + 1},
		{name: "instances", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("resource-type", "instance")}}, want: 7},
		{name: "launch templates", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("resource-type", "launch-template")}}, want: 1},
		{name: "key team", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("key", "team")}}, want: 5},
		{name: "value red", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("value", "red")}}, want: 4},
		{name: "one resource", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("resource-id", red[0])}}, want: 2},
		{name: "tag:team=blue", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("tag:team", "blue")}}, want: 1},
		{name: "pages of five", in: &ec2.DescribeTagsInput{MaxResults: aws.Int32(5)}, want: 8},
		{name: "MaxResults below 5", in: &ec2.DescribeTagsInput{MaxResults: aws.Int32(4)}, wantCode: "InvalidParameterValue"},
		{name: "unknown filter", in: &ec2.DescribeTagsInput{Filters: []types.Filter{f("colour", "red")}}, wantCode: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantCode != "" {
				_, err := w.ec2.DescribeTags(ctx(t), tt.in)
				wantErr(t, err, tt.wantCode, http.StatusBadRequest)
				return
			}
			var got []types.TagDescription
			p := ec2.NewDescribeTagsPaginator(w.ec2, tt.in)
			for p.HasMorePages() {
				page, err := p.NextPage(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if tt.in.MaxResults != nil && len(page.Tags) > int(*tt.in.MaxResults) {
					t.Errorf("page of %d", len(page.Tags))
				}
				got = append(got, page.Tags...)
			}
			if len(got) != tt.want {
				t.Errorf("%d tags; want %d: %+v", len(got), tt.want, got)
			}
			for _, d := range got {
				switch id := aws.ToString(d.ResourceId); {
				case id == ltID && d.ResourceType != types.ResourceTypeLaunchTemplate,
					id == blue[0] && (d.ResourceType != types.ResourceTypeInstance || aws.ToString(d.Value) != "blue"):
					t.Errorf("tag %+v", d)
				}
			}
		})
	}
}
