package main

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// bootableTypes asks EC2 once per process which of the bench's types the
// AMI's architecture runs on, as spotter does before its first launch.
func (b *baseline) bootableTypes(ctx context.Context, opt func(*ec2.Options)) ([]string, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bootable != nil {
		return b.bootable, ""
	}
	im, err := b.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{benchAMI}}, opt)
	if err != nil || len(im.Images) != 1 {
		return nil, "ec2_images"
	}
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range b.o.types {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	it, err := b.ec2.DescribeInstanceTypes(ctx, in, opt)
	if err != nil {
		return nil, "ec2_instance_types"
	}
	for _, t := range it.InstanceTypes {
		if t.ProcessorInfo == nil {
			continue
		}
		for _, a := range t.ProcessorInfo.SupportedArchitectures {
			if string(a) == string(im.Images[0].Architecture) {
				b.bootable = append(b.bootable, string(t.InstanceType))
				break
			}
		}
	}
	if len(b.bootable) == 0 {
		return nil, "no_bootable_type"
	}
	return b.bootable, ""
}

func tagFilter(k, v string) types.Filter {
	return types.Filter{Name: aws.String("tag:" + k), Values: []string{v}}
}

func (b *baseline) describe(ctx context.Context, opt func(*ec2.Options), filters ...types.Filter) ([]types.Instance, error) {
	var out []types.Instance
	p := ec2.NewDescribeInstancesPaginator(b.ec2, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out, nil
}

func (b *baseline) prices(ctx context.Context, opt func(*ec2.Options), itypes []string) (map[[2]string]float64, error) {
	now := time.Now().UTC()
	in := &ec2.DescribeSpotPriceHistoryInput{
		ProductDescriptions: []string{"Linux/UNIX"}, StartTime: aws.Time(now), EndTime: aws.Time(now),
	}
	for _, t := range itypes {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	prices := map[[2]string]float64{}
	p := ec2.NewDescribeSpotPriceHistoryPaginator(b.ec2, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, err
		}
		for _, h := range page.SpotPriceHistory {
			v, err := strconv.ParseFloat(aws.ToString(h.SpotPrice), 64)
			if err == nil {
				prices[[2]string{string(h.InstanceType), aws.ToString(h.AvailabilityZone)}] = v
			}
		}
	}
	return prices, nil
}

// clientToken is derived as spotter derives it (token id + idempotency key),
// so the two phases send EC2 the same shape of request.
func clientToken(tokenID, key string) string {
	sum := sha256.Sum256([]byte(tokenID + "\x00" + key))
	return "sp-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

func templateName(tokenID string) string {
	sum := sha256.Sum256([]byte("baseline template " + tokenID))
	return "spotter-" + hex.EncodeToString(sum[:12])
}

// templateInput is a launch template like spotter's: AMI, user data of the
// TTL guard's size, terminate on shutdown, IMDSv2, tagged volumes.
func templateInput(name, tokenID string) *ec2.CreateLaunchTemplateInput {
	userData := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("#cloud-boothook spotter TTL guard\n", 30)))
	return &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		VersionDescription: aws.String("spotter launch spec"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{
			ImageId:                           aws.String(benchAMI),
			UserData:                          aws.String(userData),
			InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
			MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
				HttpTokens:   types.LaunchTemplateHttpTokensStateRequired,
				HttpEndpoint: types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
			},
			TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{
				ResourceType: types.ResourceTypeVolume,
				Tags: []types.Tag{
					{Key: aws.String("spotter:template"), Value: aws.String(name)},
					{Key: aws.String("spotter:token"), Value: aws.String(tokenID)},
				},
			}},
		},
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeLaunchTemplate,
			Tags: []types.Tag{
				{Key: aws.String("spotter:template"), Value: aws.String(name)},
				{Key: aws.String("spotter:token"), Value: aws.String(tokenID)},
			},
		}},
	}
}

// ensureTemplate creates the token's launch template unless this process
// has already (one that exists already counts as made).
func (b *baseline) ensureTemplate(ctx context.Context, tmpl, id string, opt func(*ec2.Options)) string {
	b.mu.Lock()
	known := b.templates[tmpl]
	b.mu.Unlock()
	if known {
		return ""
	}
	_, err := b.ec2.CreateLaunchTemplate(ctx, templateInput(tmpl, id), opt)
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "InvalidLaunchTemplateName.AlreadyExistsException") {
		return "ec2_template"
	}
	b.mu.Lock()
	b.templates[tmpl] = true
	b.mu.Unlock()
	return ""
}
