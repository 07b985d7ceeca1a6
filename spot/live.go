package spot

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Live lists the token's pending and running instances with their current
// spot price: what a launch counts against maxRunning and maxHourlySpend.
// It is Status without the interruption lookups and the ended instances,
// one DescribeInstances (plus one price lookup when there are any).
func (c *Client) Live(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, withPrices bool) ([]Instance, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return nil, err
	}
	opt := ec2Opts(creds)
	ins, err := describe(ctx, api, opt, filter("tag:"+TagToken, tokenID), filter("instance-state-name", "pending", "running"))
	if err != nil {
		return nil, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	if withPrices && len(ins) > 0 {
		c.priceInstances(ctx, api, opt, region, ins)
	}
	return ins, nil
}
