package spot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
)

// archCache remembers what never changes once read: the architecture of an
// AMI and those an instance type runs, per region. A policy that allows
// both x86 and Graviton types with one AMI would otherwise offer EC2 pools
// the AMI cannot boot in; after the first launch of an AMI the check costs
// no call.
type archCache struct {
	mu         sync.Mutex
	images     map[[2]string]string   // region, AMI → architecture
	types      map[[2]string][]string // region, type → architectures
	catalogues map[string]typeCatalogue
}

// bootable returns the types of want that can boot ami, with a warning
// naming those that cannot; invalid_request when none can or the AMI does
// not exist.
func (c *Client) bootable(ctx context.Context, api ec2API, opt func(*ec2.Options), region, ami string, want []string) ([]string, []string, error) {
	arch, err := c.imageArch(ctx, api, opt, region, ami)
	if err == nil {
		var archs map[string][]string
		if archs, err = c.typeArchs(ctx, api, opt, region, want); err == nil {
			return matching(ami, arch, want, archs)
		}
	}
	if apperr.Code(err) == apperr.AWSAuthFailed {
		// Keys whose IAM policy predates this check (no ec2:DescribeImages
		// or ec2:DescribeInstanceTypes) still launch, as before it.
		return want, []string{"the AMI's architecture was not checked against the instance types: " + apperr.Details(err)}, nil
	}
	return nil, nil, err
}

func matching(ami, arch string, want []string, archs map[string][]string) ([]string, []string, error) {
	var ok, skipped []string
	for _, t := range want {
		if slices.Contains(archs[t], arch) {
			ok = append(ok, t)
		} else {
			skipped = append(skipped, t)
		}
	}
	if len(ok) == 0 {
		return nil, nil, apperr.New(apperr.Invalid, "ami: %s is an %s image and none of the instance types (%s) runs %s; pick a matching AMI or types",
			ami, arch, strings.Join(want, ", "), arch)
	}
	var warnings []string
	if len(skipped) > 0 {
		warnings = append(warnings, fmt.Sprintf("%s skipped: the AMI %s is %s", strings.Join(skipped, ", "), ami, arch))
	}
	return ok, warnings, nil
}

func (c *Client) imageArch(ctx context.Context, api ec2API, opt func(*ec2.Options), region, ami string) (string, error) {
	key := [2]string{region, ami}
	c.arch.mu.Lock()
	arch, ok := c.arch.images[key]
	c.arch.mu.Unlock()
	if ok {
		return arch, nil
	}
	out, err := api.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}, opt)
	if err != nil {
		if code := awsCode(err); strings.HasPrefix(code, "InvalidAMIID.") {
			return "", apperr.Wrap(err, apperr.Invalid, "ami: %s", awsMessage(err, code))
		}
		return "", mapErr(err, "EC2 DescribeImages in "+region)
	}
	for _, im := range out.Images {
		if aws.ToString(im.ImageId) == ami && im.Architecture != "" {
			arch = string(im.Architecture)
		}
	}
	if arch == "" {
		return "", apperr.New(apperr.Invalid, "ami: %s does not exist in %s, or the token's account may not use it", ami, region)
	}
	c.arch.mu.Lock()
	if c.arch.images == nil {
		c.arch.images = map[[2]string]string{}
	}
	c.arch.images[key] = arch
	c.arch.mu.Unlock()
	return arch, nil
}

// typeArchs returns the architectures of each type, asking EC2 once for
// the types not seen before in the region.
func (c *Client) typeArchs(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, want []string) (map[string][]string, error) {
	out := make(map[string][]string, len(want))
	var missing []string
	c.arch.mu.Lock()
	for _, t := range want {
		if a, ok := c.arch.types[[2]string{region, t}]; ok {
			out[t] = a
		} else if !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	c.arch.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range missing {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	got := map[string][]string{}
	p := ec2.NewDescribeInstanceTypesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			if code := awsCode(err); code == "InvalidInstanceType" {
				return nil, apperr.Wrap(err, apperr.Invalid, "instanceTypes: %s", awsMessage(err, code))
			}
			return nil, mapErr(err, "EC2 DescribeInstanceTypes in "+region)
		}
		for _, it := range page.InstanceTypes {
			var archs []string
			if it.ProcessorInfo != nil {
				for _, a := range it.ProcessorInfo.SupportedArchitectures {
					archs = append(archs, string(a))
				}
			}
			got[string(it.InstanceType)] = archs
		}
	}
	for _, t := range missing {
		if _, ok := got[t]; !ok {
			return nil, apperr.New(apperr.Invalid, "instanceTypes: %s is not an instance type in %s", t, region)
		}
	}
	c.arch.mu.Lock()
	if c.arch.types == nil {
		c.arch.types = map[[2]string][]string{}
	}
	for t, a := range got {
		c.arch.types[[2]string{region, t}] = a
		out[t] = a
	}
	c.arch.mu.Unlock()
	return out, nil
}
