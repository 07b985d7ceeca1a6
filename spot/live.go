package spot

import (
	"context"

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
