package spot

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/apperr"
)

// TagReplaces names the interrupted instance a replacement stands in for.
const TagReplaces = "spotter:replaces"

// Replace launches one spot instance in place of an interrupted one, from
// the same launch template, over the given instance types in any zone, with
// the original's tags and expiry: a replacement never lives longer than the
// instance it replaces. Its ClientToken is derived from the interrupted
// instance, so replicas racing to replace it launch one instance.
//
// It returns ok=false, and launches nothing, when the original has expired
// or was not launched by spotter for tokenID.
func (c *Client) Replace(ctx context.Context, creds aws.CredentialsProvider, region, tokenID, instanceID string, itypes []string) (Instance, bool, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return Instance{}, false, err
	}
	opt := ec2Opts(creds)
	found, err := describeIDs(ctx, api, opt, []string{instanceID})
	if err != nil {
		return Instance{}, false, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	if len(found) != 1 || found[0].tags[TagToken] != tokenID || found[0].tags[TagTemplate] == "" {
		return Instance{}, false, nil
	}
	orig := found[0]
	now := c.now().UTC()
	expires, err := time.Parse(time.RFC3339, orig.tags[TagExpiresAt])
	if err != nil || !expires.After(now.Add(time.Minute)) {
		return Instance{}, false, nil
	}
	if len(itypes) == 0 {
		itypes = []string{orig.Type}
	}
	if orig.ami != "" {
		// The template's AMI is the original's: offer only the types it
		// boots on. Should the check fail, the type that booted it will do.
		if ok, _, err := c.bootable(ctx, api, opt, region, orig.ami, dedupe(itypes)); err == nil {
			itypes = ok
		} else {
			itypes = []string{orig.Type}
		}
	}
	token := ClientToken(tokenID, "replace:"+instanceID)
	tags := map[string]string{}
	for k, v := range orig.tags {
		// EC2 adds aws:* tags itself (aws:ec2launchtemplate:id …) and refuses them in requests.
		if !strings.HasPrefix(k, "aws:") {
			tags[k] = v
		}
	}
	tags[TagRequest], tags[TagClientToken], tags[TagReplaces] = "replace:"+instanceID, token, instanceID

	prices, err := spotPrices(ctx, api, opt, itypes, now)
	if err != nil {
		return Instance{}, false, mapErr(err, "EC2 DescribeSpotPriceHistory in "+region)
	}
	pools := make([]Pool, 0, len(itypes))
	for _, t := range itypes {
		pools = append(pools, Pool{Type: t})
	}
	f := fleetCall{api: api, opt: opt, region: region, tmpl: template{name: orig.tags[TagTemplate]}, pools: pools,
		tags: tags, prices: prices, onDemand: func(typ string) (float64, bool) { return c.onDemandPrice(region, typ) }}
	// The template exists (the original launched from it, and the reaper
	// keeps templates live instances use); mark it known so a vanished one
	// fails here rather than being recreated from nothing.
	c.rememberTemplate(region, f.tmpl.name, true)
	res, err := c.fleet(ctx, &f, token, 1, false, 0, 0)
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
