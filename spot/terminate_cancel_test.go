package spot

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestTerminateAllCancelsOnlyWhenOutside: terminate all looks for the
// token's open spot requests (and cancels them) when it ends an instance
// no spotter launch started, or finds none; beside only spotter's own
// instances, whose one-time requests close by themselves, it makes no
// such call and leaves a stray request to the reaper. It cancels before
// it terminates: the capacity a terminate frees would fulfil the request.
func TestTerminateAllCancelsOnlyWhenOutside(t *testing.T) {
	tests := map[string]struct {
		spotter, outside int
		wantCancel       bool
		wantCalls        int
	}{
		"only spotter's own":       {spotter: 2, wantCalls: 2},
		"one started outside":      {spotter: 2, outside: 1, wantCancel: true, wantCalls: 4},
		"nothing running":          {wantCancel: true, wantCalls: 3},
		"only one started outside": {outside: 1, wantCancel: true, wantCalls: 4},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := mustEnv(t)
			ctx := context.Background()
			if tt.spotter > 0 {
				e.seed(t, "tokA", tt.spotter, time.Hour)
			}
			e.noSpot(t) // so the legacy request stays open (until a terminate frees capacity)
			_, rc, err := e.client.region(region)
			if err != nil {
				t.Fatal(err)
			}
			ec, opt := rc.ec2.(*ec2.Client), e.client.ec2Opts(e.creds)
			tags := ec2Tags(map[string]string{TagToken: "tokA"})
			req, err := ec.RequestSpotInstances(ctx, &ec2.RequestSpotInstancesInput{
				InstanceCount:       aws.Int32(1),
				LaunchSpecification: &ec2types.RequestSpotLaunchSpecification{ImageId: aws.String("ami-1"), InstanceType: "m5.large"},
				TagSpecifications:   []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSpotInstancesRequest, Tags: tags}},
			}, opt)
			if err != nil {
				t.Fatal(err)
			}
			sir := aws.ToString(req.SpotInstanceRequests[0].SpotInstanceRequestId)
			if tt.outside > 0 {
				if _, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), InstanceType: "m5.large",
					MinCount: aws.Int32(int32(tt.outside)), MaxCount: aws.Int32(int32(tt.outside)),
					TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}}, opt); err != nil {
					t.Fatal(err)
				}
			}
			e.resetCalls()
			res, err := e.client.Terminate(ctx, e.creds, region, "tokA", nil, true)
			if err != nil || len(res.Terminated) != tt.spotter+tt.outside {
				t.Fatalf("Terminate(all) = %+v, %v; want %d ended", res, err, tt.spotter+tt.outside)
			}
			if got := slices.Equal(res.CancelledRequests, []string{sir}); got != tt.wantCancel {
				t.Fatalf("cancelled %v; want %s cancelled: %v", res.CancelledRequests, sir, tt.wantCancel)
			}
			if got := e.totalCalls(); got != tt.wantCalls {
				t.Fatalf("%d EC2 calls (%v); want %d", got, e.calls, tt.wantCalls)
			}
		})
	}
}

// TestTerminateAllWhenCancelFails: an account whose IAM policy lacks the
// spot-request calls still gets its instances ended; the error says why
// the requests were not cancelled.
func TestTerminateAllWhenCancelFails(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	_, rc, err := e.client.region(region)
	if err != nil {
		t.Fatal(err)
	}
	tags := ec2Tags(map[string]string{TagToken: "tokA"})
	if _, err := rc.ec2.(*ec2.Client).RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), InstanceType: "m5.large",
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: tags}}}, e.client.ec2Opts(e.creds)); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.InjectFault("DescribeSpotInstanceRequests", "UnauthorizedOperation", 1, 1); err != nil {
		t.Fatal(err)
	}
	res, err := e.client.Terminate(ctx, e.creds, region, "tokA", nil, true)
	if err == nil || len(res.Terminated) != 1 || len(e.liveSimInstances()) != 0 {
		t.Fatalf("Terminate(all) = %+v, %v, %d live; want the instance ended and the cancel's error", res, err, len(e.liveSimInstances()))
	}
}
