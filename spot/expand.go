package spot

import (
	"context"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/apperr"
)

// MaxExpandedTypes bounds what a policy's patterns may expand to in one
// launch or price: each type is a pool per zone EC2 is offered and priced.
const MaxExpandedTypes = 100

// catalogueTTL is how long a region's list of instance types is kept: AWS
// adds types a few times a year, and a process that outlives a day picks
// them up.
const catalogueTTL = 24 * time.Hour

// IsPattern reports whether an instance type entry is a pattern ("c5.*").
func IsPattern(t string) bool { return strings.ContainsAny(t, "*?[") }

// ExpandTypes returns the instance types a list of names and patterns
// stands for in a region: names as they are, patterns ("c5.*") matched
// against the region's catalogue (DescribeInstanceTypes, read once per
// region and day). Sorted, without duplicates. A pattern that matches no
// type, or a list that expands past MaxExpandedTypes, is invalid_request.
// Credentials without ec2:DescribeInstanceTypes get the names alone, with
// a warning (or, with no names, the permission error).
func (c *Client) ExpandTypes(ctx context.Context, creds aws.CredentialsProvider, region string, list []string) ([]string, []string, error) {
	if !slices.ContainsFunc(list, IsPattern) {
		return dedupe(list), nil, nil
	}
	region, api, err := c.ec2For(region)
	if err != nil {
		return nil, nil, err
	}
	all, err := c.catalogue(ctx, api, c.ec2Opts(creds), region)
	if err != nil {
		names := slices.DeleteFunc(slices.Clone(list), IsPattern)
		if apperr.Code(err) == apperr.AWSAuthFailed && len(names) > 0 {
			return dedupe(names), []string{"the policy's patterns were not expanded (" + apperr.Details(err) + "); only its named types were used"}, nil
		}
		return nil, nil, err
	}
	var out []string
	for _, entry := range list {
		if !IsPattern(entry) {
			out = append(out, entry)
			continue
		}
		n := len(out)
		for _, t := range all {
			if ok, _ := path.Match(entry, t); ok {
				out = append(out, t)
			}
		}
		if len(out) == n {
			return nil, nil, apperr.New(apperr.Invalid, "instanceTypes: the pattern %s matches no instance type in %s", entry, region)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxExpandedTypes {
		return nil, nil, apperr.New(apperr.Invalid, "instanceTypes: %s stands for %d instance types in %s, more than %d; name the types in the request (instanceTypes) or narrow the policy's patterns",
			strings.Join(list, ", "), len(out), region, MaxExpandedTypes)
	}
	return out, nil, nil
}

// catalogue lists every instance type offered in a region, and remembers
// their architectures for the AMI check on the way.
func (c *Client) catalogue(ctx context.Context, api ec2API, opt func(*ec2.Options), region string) ([]string, error) {
	now := c.now()
	c.arch.mu.Lock()
	cat, ok := c.arch.catalogues[region]
	c.arch.mu.Unlock()
	if ok && now.Sub(cat.at) < catalogueTTL {
		return cat.types, nil
	}
	archs := map[string][]string{}
	p := ec2.NewDescribeInstanceTypesPaginator(api, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, mapErr(err, "EC2 DescribeInstanceTypes in "+region)
		}
		for _, it := range page.InstanceTypes {
			var a []string
			if it.ProcessorInfo != nil {
				for _, arch := range it.ProcessorInfo.SupportedArchitectures {
					a = append(a, string(arch))
				}
			}
			archs[string(it.InstanceType)] = a
		}
	}
	types := make([]string, 0, len(archs))
	for t := range archs {
		types = append(types, t)
	}
	slices.Sort(types)
	c.arch.mu.Lock()
	defer c.arch.mu.Unlock()
	if c.arch.catalogues == nil {
		c.arch.catalogues = map[string]typeCatalogue{}
	}
	if c.arch.types == nil {
		c.arch.types = map[[2]string][]string{}
	}
	c.arch.catalogues[region] = typeCatalogue{types: types, at: now}
	for t, a := range archs {
		c.arch.types[[2]string{region, t}] = a
	}
	return types, nil
}

// typeCatalogue is a region's instance types as read at a time.
type typeCatalogue struct {
	types []string
	at    time.Time
}
