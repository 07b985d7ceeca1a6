package awssim_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/spotter-dev/spotter/awssim"
)

// TestParallelCalls runs every kind of call at once, across regions, while
// the control API resets capacity, so the race detector sees the locking.
// Retries of one ClientToken from many goroutines must launch once.
func TestParallelCalls(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	mustTemplate(t, w, "fleet")
	west, _ := w.clients(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, "", "us-west-2")
	var wg sync.WaitGroup
	var launched atomic.Int64
	tokenIDs := sync.Map{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := w.ec2.RunInstances(ctx(t), spotRun("shared-token", 1)); err != nil {
					t.Errorf("RunInstances shared token: %v", err)
				} else {
					launched.Add(1)
				}
				out, err := w.ec2.RunInstances(ctx(t), spotRun(fmt.Sprintf("g%d-%d", g, i), 1))
				if err != nil {
					t.Errorf("RunInstances: %v", err)
					continue
				}
				tokenIDs.Store(aws.ToString(out.Instances[0].InstanceId), true)
				if _, err := w.ec2.CreateFleet(ctx(t), fleetInput("", "price-capacity-optimized", 1, types.InstanceTypeT3Micro, types.InstanceTypeT3Small)); err != nil {
					t.Errorf("CreateFleet: %v", err)
				}
				if _, err := west.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
					t.Errorf("DescribeInstances: %v", err)
				}
				if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}}); err != nil {
					t.Errorf("TerminateInstances: %v", err)
				}
				if _, err := w.sts.GetSessionToken(ctx(t), &sts.GetSessionTokenInput{}); err != nil {
					t.Errorf("GetSessionToken: %v", err)
				}
				_ = w.sim.State()
				if err := w.sim.SetCapacity("us-east-1", "", "t3.small", false, 50); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	tokenIDs.Range(func(_, _ any) bool { n++; return true })
	if n != 80 {
		t.Errorf("%d distinct instances from 80 distinct tokens", n)
	}
	shared := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("client-token"), Values: []string{"shared-token"}}}})
	if len(shared) != 1 {
		t.Errorf("80 concurrent calls with one ClientToken launched %d instances; want 1", len(shared))
	}
}

// BenchmarkRunInstances measures RunInstances calls per second through the
// real SDK over loopback HTTP, which is what spotter's own benchmarks pay.
func BenchmarkRunInstances(b *testing.B) {
	w := mustWorld(b, awssim.Options{})
	if err := w.sim.SetCapacity("us-east-1", "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.ec2.RunInstances(ctx(b), spotRun("", 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkCreateFleet is the same for an instant fleet over 2 types × 3 zones.
func BenchmarkCreateFleet(b *testing.B) {
	w := mustWorld(b, awssim.Options{})
	if err := w.sim.SetCapacity("us-east-1", "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	out, err := w.ec2.CreateLaunchTemplate(ctx(b), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("fleet"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")},
	})
	if err != nil || out.LaunchTemplate == nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.ec2.CreateFleet(ctx(b), fleetInput("", "price-capacity-optimized", 1, types.InstanceTypeM5Large, types.InstanceTypeC5Large)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkServeRunInstances measures the emulator alone, without the SDK
// or the network: the cost awssim adds to each call.
func BenchmarkServeRunInstances(b *testing.B) {
	sim := awssim.New(awssim.Options{Seed: 1})
	if err := sim.SetCapacity("us-east-1", "", "", false, 1<<30); err != nil {
		b.Fatal(err)
	}
	const body = "Action=RunInstances&ImageId=ami-0123456789abcdef0&InstanceMarketOptions.MarketType=spot&InstanceMarketOptions.SpotOptions.SpotInstanceType=one-time&InstanceType=t3.micro&MaxCount=1&MinCount=1&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=x&Version=2016-11-15"
	const auth = "AWS4-HMAC-SHA256 Credential=" + awssim.DefaultAccessKeyID + "/20260314/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
