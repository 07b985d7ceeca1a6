package spot

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TagInstances sets tags on instances the caller listed as the token's
// (a pool's, say): the dangling check's marks.
func (c *Client) TagInstances(ctx context.Context, creds aws.CredentialsProvider, region string, ids []string, tags map[string]string) error {
	region, api, err := c.ec2For(region)
	if err != nil {
		return err
	}
	_, err = api.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids, Tags: ec2Tags(tags)}, c.ec2Opts(creds))
	return mapErr(err, "EC2 CreateTags in "+region)
}

// UntagInstances removes tag keys (whatever their values) from instances.
func (c *Client) UntagInstances(ctx context.Context, creds aws.CredentialsProvider, region string, ids, keys []string) error {
	region, api, err := c.ec2For(region)
	if err != nil {
		return err
	}
	tags := make([]types.Tag, len(keys))
	for i, k := range keys {
		tags[i] = types.Tag{Key: aws.String(k)}
	}
	_, err = api.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: ids, Tags: tags}, c.ec2Opts(creds))
	return mapErr(err, "EC2 DeleteTags in "+region)
}
