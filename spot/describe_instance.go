package spot

import (
	"context"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Describe looks up one of the token's instances by id, with its tags:
// found is false when EC2 does not know it or it is not the token's (its
// spotter:token tag). The bootstrap hand-off checks an instance's tags
// and launch time with it.
func (c *Client) Describe(ctx context.Context, creds aws.CredentialsProvider, region, tokenID, id string) (in Instance, found bool, err error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return Instance{}, false, err
	}
	if !instanceIDRE.MatchString(id) {
		return Instance{}, false, nil
	}
	ins, err := describe(ctx, api, c.ec2Opts(creds), filter("instance-id", id), filter("tag:"+TagToken, tokenID))
	if err != nil {
		return Instance{}, false, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	for _, got := range ins {
		if got.ID == id {
			got.Tags = maps.Clone(got.Tags)
			return got, true, nil
		}
	}
	return Instance{}, false, nil
}
