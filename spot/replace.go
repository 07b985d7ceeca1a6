package spot

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// Replace launches one spot instance in place of an interrupted one, from
// the same launch template, over the given instance types in any zone, with
// the original's tags and expiry: a replacement never lives longer than the
// instance it replaces. Its ClientToken is derived from the interrupted
// instance, so replicas racing to replace it launch one instance.
//
// Caps bounds a replacement as the policy bounds a launch: MaxPrice per
// instance-hour (policy maxPrice) and MaxTotalPrice, the hourly budget
// left (policy maxHourlySpend less what the token runs). Zero: no cap.
type Caps struct {
	MaxPrice      float64
	MaxTotalPrice float64
}

// It returns ok=false, and launches nothing, when the original has expired
// or was not launched by spotter for tokenID. A budget (caps) too small for
// the cheapest pool is policy_denied; pools over MaxPrice are left out.
func (c *Client) Replace(ctx context.Context, creds aws.CredentialsProvider, region, tokenID, instanceID string, itypes []string, caps Caps) (Instance, bool, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return Instance{}, false, err
	}
	opt := c.ec2Opts(creds)
	now := c.now().UTC()
	orig, expires, ok, err := original(ctx, api, opt, region, tokenID, instanceID, now)
	if err != nil || !ok {
		return Instance{}, false, err
	}
	itypes = c.replacementTypes(ctx, api, opt, region, orig, itypes)
	token := ClientToken(tokenID, "replace:"+instanceID)
	tags := replacementTags(orig, token, instanceID)

	prices, err := spotPrices(ctx, api, opt, itypes, now)
	if err != nil {
		return Instance{}, false, mapErr(err, "EC2 DescribeSpotPriceHistory in "+region)
	}
	pools, err := replacementPools(prices, itypes, caps, region, instanceID)
	if err != nil {
		return Instance{}, false, err
	}
	tmpl := c.guardedTemplate(ctx, api, opt, region, tokenID, instanceID, orig.Tags[TagTemplate], expires)
	tags[TagTemplate] = tmpl.name
	f := fleetCall{api: api, opt: opt, region: region, tmpl: tmpl, pools: pools,
		tags: tags, prices: prices, onDemand: c.odPrices(ctx, creds, region).price}
	// The template exists (the original launched from it, and the reaper
	// keeps templates live instances use, or it was just made); mark it
	// known so a vanished one fails here rather than being recreated from
	// nothing.
	c.rememberTemplate(region, f.tmpl.name, true)
	res, err := c.fleet(ctx, &f, fleetRequest{clientToken: token, count: 1, maxPrice: caps.MaxPrice, maxTotal: caps.MaxTotalPrice})
	if err != nil {
		return Instance{}, false, err
	}
	if len(res.instances) == 0 {
		if res.firstErr != nil {
			return Instance{}, false, res.firstErr
		}
		return Instance{}, false, apperr.New(apperr.CapacityUnavailable, "no spot capacity to replace %s", instanceID)
	}
	c.log.InfoContext(ctx, "replaced interrupted instance", "token", tokenID, "region", region,
		"interrupted", instanceID, "replacement", res.instances[0].ID)
	return res.instances[0], true, nil
}

// original reads the interrupted instance. ok=false: it was not launched
// by spotter for tokenID, or it expires within a minute.
func original(ctx context.Context, api ec2API, opt func(*ec2.Options), region, tokenID, instanceID string, now time.Time) (orig Instance, expires time.Time, ok bool, err error) {
	found, err := describeIDs(ctx, api, opt, []string{instanceID})
	if err != nil {
		return Instance{}, time.Time{}, false, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	if len(found) != 1 || found[0].Tags[TagToken] != tokenID || found[0].Tags[TagTemplate] == "" {
		return Instance{}, time.Time{}, false, nil
	}
	expires, err = time.Parse(time.RFC3339, found[0].Tags[TagExpiresAt])
	if err != nil || !expires.After(now.Add(time.Minute)) {
		return Instance{}, time.Time{}, false, nil
	}
	return found[0], expires, true, nil
}

// replacementTypes is what a replacement may run on: the types asked (or
// the original's), of those the types its AMI boots on.
func (c *Client) replacementTypes(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, orig Instance, itypes []string) []string {
	if len(itypes) == 0 {
		itypes = []string{orig.Type}
	}
	if orig.AMI == "" {
		return itypes
	}
	// The template's AMI is the original's: offer only the types it
	// boots on. Should the check fail, the type that booted it will do.
	ok, _, err := c.bootable(ctx, api, opt, region, orig.AMI, dedupe(itypes))
	if err != nil {
		return []string{orig.Type}
	}
	return ok
}

// replacementTags are the original's tags, naming the replacement's
// request, ClientToken and the instance it replaces.
func replacementTags(orig Instance, token, instanceID string) map[string]string {
	tags := map[string]string{}
	for k, v := range orig.Tags {
		// EC2 adds aws:* tags itself (aws:ec2launchtemplate:id …) and refuses them in requests.
		if !strings.HasPrefix(k, "aws:") {
			tags[k] = v
		}
	}
	tags[TagRequest], tags[TagClientToken], tags[TagReplaces] = "replace:"+instanceID, token, instanceID
	// The replacement's own guard stops it at the original's expiry, so
	// it cannot be extended: no guard TTL.
	delete(tags, TagGuardTTL)
	return tags
}

// replacementPools offers each type at its cheapest zone's price, leaving
// out types priced nowhere or over caps.MaxPrice, and refuses a budget
// (caps.MaxTotalPrice) too small for the cheapest.
func replacementPools(prices map[poolKey]float64, itypes []string, caps Caps, region, instanceID string) ([]Pool, error) {
	pools := make([]Pool, 0, len(itypes))
	cheapest := 0.0
	for _, t := range itypes {
		// A type priced in no zone here, or in none under maxPrice, is
		// not offered: EC2 would launch it at any price.
		lowest := 0.0
		for k, p := range prices {
			if k.typ == t && (lowest == 0 || p < lowest) {
				lowest = p
			}
		}
		if lowest == 0 || caps.MaxPrice > 0 && lowest > caps.MaxPrice {
			continue
		}
		pools = append(pools, Pool{Type: t, Price: money.FromDollars(lowest)})
		if cheapest == 0 || lowest < cheapest {
			cheapest = lowest
		}
	}
	switch {
	case len(pools) == 0 && caps.MaxPrice > 0:
		return nil, apperr.New(apperr.PolicyDenied, "rule maxPrice: no allowed type is priced under $%s/h to replace %s", formatPrice(caps.MaxPrice), instanceID)
	case len(pools) == 0:
		return nil, apperr.New(apperr.CapacityUnavailable, "no allowed type is offered as spot in %s to replace %s", region, instanceID)
	case caps.MaxTotalPrice > 0 && caps.MaxTotalPrice < cheapest:
		return nil, apperr.New(apperr.PolicyDenied, "rule maxHourlySpend: the $%s/h left does not pay for a replacement of %s at $%s/h", formatPrice(caps.MaxTotalPrice), instanceID, formatPrice(cheapest))
	}
	return pools, nil
}

// guardedTemplate is the template a replacement launches from: a copy of
// the original's with the TTL guard armed for the original's expiry, or,
// should that copy fail, the original's own.
func (c *Client) guardedTemplate(ctx context.Context, api ec2API, opt func(*ec2.Options), region, tokenID, instanceID, orig string, expires time.Time) template {
	rt, err := c.replacementTemplate(ctx, api, opt, region, orig, tokenID, expires)
	if err == nil {
		err = c.ensureTemplate(ctx, api, opt, region, rt)
	}
	if err != nil {
		c.log.WarnContext(ctx, "replacement keeps its template's guard, which counts the TTL from its own boot",
			"token", tokenID, "interrupted", instanceID, "error", err)
		return template{name: orig}
	}
	return rt
}

// replacementTemplate copies the original's launch template with its TTL
// guard armed for the original's expiry (guardUntil) rather than for TTL
// minutes from the replacement's own boot: otherwise a replacement launched
// late in its original's life would outlive that expiry whenever spotter is
// gone. It is named by the template and the expiry, so replicas racing to
// replace one instance make the same template (and CreateFleet, the same
// ClientToken and parameters).
func (c *Client) replacementTemplate(ctx context.Context, api ec2API, opt func(*ec2.Options), region, orig, tokenID string, expires time.Time) (template, error) {
	out, err := api.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateName: aws.String(orig), Versions: []string{"$Latest"},
	}, opt)
	if err != nil {
		return template{}, mapErr(err, "EC2 DescribeLaunchTemplateVersions in "+region)
	}
	if len(out.LaunchTemplateVersions) != 1 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return template{}, fmt.Errorf("template %s: %d versions read back", orig, len(out.LaunchTemplateVersions))
	}
	d := out.LaunchTemplateVersions[0].LaunchTemplateData
	ud, err := base64.StdEncoding.DecodeString(aws.ToString(d.UserData))
	if err != nil {
		return template{}, fmt.Errorf("template %s: user data: %w", orig, err)
	}
	if ud, err = guardUntil(ud, expires); err != nil {
		return template{}, fmt.Errorf("template %s: %w", orig, err)
	}
	sum := sha256.Sum256([]byte(orig + "|" + expires.UTC().Format(time.RFC3339)))
	name := "spotter-" + hex.EncodeToString(sum[:12])

	data := &types.RequestLaunchTemplateData{
		ImageId:                           d.ImageId,
		KeyName:                           d.KeyName,
		UserData:                          aws.String(base64.StdEncoding.EncodeToString(ud)),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		SecurityGroupIds:                  d.SecurityGroupIds,
		SecurityGroups:                    d.SecurityGroups,
		MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:   types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint: types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
	}
	for _, ts := range d.TagSpecifications {
		tags := map[string]string{}
		for _, t := range ts.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if _, ok := tags[TagTemplate]; ok {
			tags[TagTemplate] = name
		}
		data.TagSpecifications = append(data.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{
			ResourceType: ts.ResourceType, Tags: ec2Tags(tags),
		})
	}
	return template{name: name, input: &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		VersionDescription: aws.String("spotter replacement of " + orig),
		LaunchTemplateData: data,
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeLaunchTemplate,
			Tags:         ec2Tags(map[string]string{TagToken: tokenID, TagTemplate: name}),
		}},
	}}, nil
}
