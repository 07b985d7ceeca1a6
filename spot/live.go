package spot

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// live lists the token's pending and running instances, with their current
// spot price when withPrices: what a launch counts against maxRunning and
// maxHourlySpend (LaunchSpec.Admit). It is Status without the interruption
// lookups and the ended instances: one DescribeInstances (plus one price
// lookup when there are any).
func (c *Client) live(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, tokenID string, withPrices bool) ([]Instance, error) {
	ins, err := describe(ctx, api, opt, filter("tag:"+TagToken, tokenID), filter("instance-state-name", "pending", "running"))
	if err != nil {
		return nil, mapErr(err, "EC2 DescribeInstances in "+od.region)
	}
	if withPrices && len(ins) > 0 {
		c.priceInstances(ctx, api, opt, od, ins)
	}
	return ins, nil
}

// Live lists the token's pending and running instances in region, priced
// when withPrices: what a ledger that keeps the token's count
// (LaunchSpec.AdmitCounts) reconciles it with.
func (c *Client) Live(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, withPrices bool) ([]Instance, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return nil, err
	}
	return c.live(ctx, api, c.ec2Opts(creds), c.odPrices(ctx, creds, region), tokenID, withPrices)
}

// admitList is what Launch lists before spec.Admit: the token's live
// instances; or, when Admit keeps the token's count itself
// (spec.AdmitCounts), only this launch's own (its ClientToken's tag), to
// answer a retry — a lookup whose cost does not grow with what the token
// runs.
func (c *Client) admitList(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, spec LaunchSpec) ([]Instance, error) {
	if !spec.AdmitCounts {
		return c.live(ctx, api, opt, od, spec.TokenID, spec.AdmitPrices)
	}
	ins, err := describe(ctx, api, opt, filter("tag:"+TagClientToken, spec.ClientToken),
		filter("tag:"+TagToken, spec.TokenID), filter("instance-state-name", "pending", "running"))
	if err != nil {
		return nil, mapErr(err, "EC2 DescribeInstances in "+od.region)
	}
	return ins, nil
}
