package spot

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestReapStrays: a pass ends an instance started from a spotter template
// without spotter's tags (so without a TTL), cancels the open spot requests
// that carry a token's tag, and leaves alone what is not spotter's.
func TestReapStrays(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	launched := e.mustLaunch(t, e.spec("tokA", "strays", 1))
	_, rc, err := e.client.region(region)
	if err != nil {
		t.Fatal(err)
	}
	ec := rc.ec2.(*ec2.Client)
	opt := e.client.ec2Opts(e.creds)
	run := func(in *ec2.RunInstancesInput) string {
		in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(1)
		out, err := ec.RunInstances(ctx, in, opt)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Instances[0].InstanceId)
	}
	// Started from the template by hand: the template's name, no token, no TTL.
	stray := run(&ec2.RunInstancesInput{LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String(launched.Template)}})
	// Not spotter's at all.
	foreign := run(&ec2.RunInstancesInput{ImageId: aws.String("ami-0abcdef1234567890"), InstanceType: "t3.micro"})

	e.noSpot(t) // so legacy requests stay open
	request := func(tags map[string]string) string {
		in := &ec2.RequestSpotInstancesInput{
			InstanceCount:       aws.Int32(1),
			LaunchSpecification: &ec2types.RequestSpotLaunchSpecification{ImageId: aws.String("ami-1"), InstanceType: "m5.large"},
		}
		if tags != nil {
			in.TagSpecifications = []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSpotInstancesRequest, Tags: ec2Tags(tags)}}
		}
		out, err := ec.RequestSpotInstances(ctx, in, opt)
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SpotInstanceRequests[0].SpotInstanceRequestId)
	}
	mine, untagged := request(map[string]string{TagToken: "tokA"}), request(nil)

	rep, err := e.client.Reap(ctx, e.creds, region, e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want ReapAction // Action, Reason and the id field compared
		done bool
	}{
		{name: "stray from a spotter template ended", want: ReapAction{Action: ActionTerminate, Reason: ReasonNoTTL, InstanceID: stray}, done: true},
		{name: "token's open spot request cancelled", want: ReapAction{Action: ActionCancelRequest, Reason: ReasonOpenRequest, Request: mine, TokenID: "tokA"}, done: true},
		{name: "foreign instance untouched", want: ReapAction{Action: ActionTerminate, Reason: ReasonNoTTL, InstanceID: foreign}},
		{name: "untagged request untouched", want: ReapAction{Action: ActionCancelRequest, Reason: ReasonOpenRequest, Request: untagged}},
		{name: "spotter's own instance untouched", want: ReapAction{Action: ActionTerminate, InstanceID: launched.Instances[0].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.ContainsFunc(rep.Actions, func(a ReapAction) bool {
				return a.Action == tt.want.Action && a.InstanceID == tt.want.InstanceID && a.Request == tt.want.Request &&
					(tt.want.Reason == "" || a.Reason == tt.want.Reason) && (tt.want.TokenID == "" || a.TokenID == tt.want.TokenID)
			})
			if got != tt.done {
				t.Errorf("action %+v taken = %v; want %v (actions %+v, errors %v)", tt.want, got, tt.done, rep.Actions, rep.Errors)
			}
		})
	}
	for _, in := range e.simInstances() {
		if in.InstanceID == stray && isLive(in.State) || in.InstanceID == foreign && !isLive(in.State) {
			t.Errorf("instance %s is %s after the pass", in.InstanceID, in.State)
		}
	}
}
