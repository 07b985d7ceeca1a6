package spot

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// template is a launch template named by a hash of its contents, so equal
// specs share one and a replica can create it without coordination.
type template struct {
	name  string
	input *ec2.CreateLaunchTemplateInput
}

// newTemplate builds the template for a spec. Per-request values (request
// id, expiry) go on the CreateFleet call instead, or every launch would
// need its own template. Volumes are tagged here because CreateFleet can
// tag only the fleet and its instances.
func newTemplate(spec LaunchSpec, userData []byte) template {
	volumeTags := map[string]string{TagToken: spec.TokenID}
	for k, v := range spec.Tags {
		volumeTags[k] = v
	}
	var ids, names []string
	for _, g := range spec.SecurityGroups {
		if strings.HasPrefix(g, "sg-") {
			ids = append(ids, g)
		} else {
			names = append(names, g)
		}
	}
	ud := base64.StdEncoding.EncodeToString(userData)
	key, _ := json.Marshal(struct {
		Token, AMI, Key, UserData string
		Groups                    []string
		Tags                      map[string]string
	}{spec.TokenID, spec.AMI, spec.KeyName, ud, spec.SecurityGroups, spec.Tags})
	sum := sha256.Sum256(key)
	name := "spotter-" + hex.EncodeToString(sum[:12])
	volumeTags[TagTemplate] = name

	data := &types.RequestLaunchTemplateData{
		ImageId:                           aws.String(spec.AMI),
		UserData:                          aws.String(ud),
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		SecurityGroupIds:                  ids,
		SecurityGroups:                    names,
		// IMDSv2 only: user data and role credentials are not served to a
		// request forged through an SSRF on the instance.
		MetadataOptions: &types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:   types.LaunchTemplateHttpTokensStateRequired,
			HttpEndpoint: types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
		TagSpecifications: []types.LaunchTemplateTagSpecificationRequest{{
			ResourceType: types.ResourceTypeVolume,
			Tags:         ec2Tags(volumeTags),
		}, {
			// Whatever launches from the template carries its name, so the
			// reaper finds an instance started from it some other way
			// (without spotter's tags, so without a TTL) and ends it.
			ResourceType: types.ResourceTypeInstance,
			Tags:         ec2Tags(map[string]string{TagTemplate: name}),
		}},
	}
	if spec.KeyName != "" {
		data.KeyName = aws.String(spec.KeyName)
	}
	return template{name: name, input: &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		VersionDescription: aws.String("spotter launch spec"),
		LaunchTemplateData: data,
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeLaunchTemplate,
			Tags:         ec2Tags(map[string]string{TagToken: spec.TokenID, TagTemplate: name}),
		}},
	}}
}

// ensureTemplate creates the template unless it is known to exist. Another
// replica creating it first is success: the name is the content's hash.
func (c *Client) ensureTemplate(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, t template) error {
	if c.knownTemplate(region, t.name) {
		return nil
	}
	_, err := api.CreateLaunchTemplate(ctx, t.input, opt)
	if err != nil && awsCode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
		return mapErr(err, "EC2 CreateLaunchTemplate in "+region)
	}
	c.rememberTemplate(region, t.name, true)
	return nil
}
