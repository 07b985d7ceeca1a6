package awssim_test

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

func spotRun(token string, n int32, tags ...string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String("ami-0123456789abcdef0"),
		InstanceType: types.InstanceTypeT3Micro,
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(n),
		InstanceMarketOptions: &types.InstanceMarketOptionsRequest{
			MarketType:  types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{SpotInstanceType: types.SpotInstanceTypeOneTime},
		},
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		for i := 0; i+1 < len(tags); i += 2 {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	return in
}

func ids(ins []types.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = aws.ToString(in.InstanceId)
	}
	sort.Strings(out)
	return out
}

func describeAll(t *testing.T, c *ec2.Client, in *ec2.DescribeInstancesInput) []types.Instance {
	t.Helper()
	var out []types.Instance
	p := ec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out
}

func TestRunInstancesLifecycle(t *testing.T) {
	w := mustWorld(t, awssim.Options{PendingDelay: 5 * time.Second, TerminatedRetention: time.Hour})
	out, err := w.ec2.RunInstances(ctx(t), spotRun("tok-1", 2, "Name", "build", "spotter:token", "abc"))
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	if len(out.Instances) != 2 {
		t.Fatalf("RunInstances launched %d instances; want 2", len(out.Instances))
	}
	in := out.Instances[0]
	if got := in.State.Name; got != types.InstanceStateNamePending {
		t.Errorf("new instance state = %s; want pending", got)
	}
	if in.InstanceLifecycle != types.InstanceLifecycleTypeSpot || aws.ToString(in.SpotInstanceRequestId) == "" {
		t.Errorf("lifecycle = %q, spot request = %q; want spot with a request id", in.InstanceLifecycle, aws.ToString(in.SpotInstanceRequestId))
	}
	if aws.ToString(out.ReservationId) == "" || aws.ToString(out.OwnerId) != awssim.DefaultAccountID {
		t.Errorf("reservation %q owner %q", aws.ToString(out.ReservationId), aws.ToString(out.OwnerId))
	}

	w.clock.Advance(5 * time.Second)
	got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: ids(out.Instances)})
	for _, in := range got {
		if in.State.Name != types.InstanceStateNameRunning || aws.ToInt32(in.State.Code) != 16 {
			t.Errorf("%s state = %s (%d) after the pending delay; want running (16)", aws.ToString(in.InstanceId), in.State.Name, aws.ToInt32(in.State.Code))
		}
		if aws.ToString(in.PublicIpAddress) == "" || aws.ToString(in.Placement.AvailabilityZone) == "" {
			t.Errorf("running instance lacks public ip or zone: %+v", in)
		}
	}

	term, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids(out.Instances)})
	if err != nil {
		t.Fatalf("TerminateInstances: %v", err)
	}
	for _, ch := range term.TerminatingInstances {
		if ch.PreviousState.Name != types.InstanceStateNameRunning || ch.CurrentState.Name != types.InstanceStateNameShuttingDown {
			t.Errorf("terminate %s: %s → %s; want running → shutting-down", aws.ToString(ch.InstanceId), ch.PreviousState.Name, ch.CurrentState.Name)
		}
	}
	// Terminating again succeeds: the call is idempotent.
	if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids(out.Instances)}); err != nil {
		t.Errorf("second TerminateInstances: %v", err)
	}
	w.clock.Advance(5 * time.Second)
	got = describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: ids(out.Instances)})
	for _, in := range got {
		if in.State.Name != types.InstanceStateNameTerminated {
			t.Errorf("%s state = %s; want terminated", aws.ToString(in.InstanceId), in.State.Name)
		}
	}
	// Terminated instances stay visible for the retention period, then go.
	w.clock.Advance(time.Hour)
	_, err = w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: ids(out.Instances)[:1]})
	wantErr(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
}

func TestRunInstancesIdempotency(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	first, err := w.ec2.RunInstances(ctx(t), spotRun("same-token", 1))
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.ec2.RunInstances(ctx(t), spotRun("same-token", 1))
	if err != nil {
		t.Fatalf("RunInstances retried with the same token: %v", err)
	}
	if a, b := ids(first.Instances), ids(again.Instances); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("retry launched %v; want the original %v", b, a)
	}
	if n := len(describeAll(t, w.ec2, &ec2.DescribeInstancesInput{})); n != 1 {
		t.Errorf("%d instances exist after a retried launch; want 1", n)
	}
	_, err = w.ec2.RunInstances(ctx(t), spotRun("same-token", 2))
	wantErr(t, err, "IdempotentParameterMismatch", http.StatusBadRequest)

	if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids(first.Instances)}); err != nil {
		t.Fatal(err)
	}
	_, err = w.ec2.RunInstances(ctx(t), spotRun("same-token", 1))
	wantErr(t, err, "IdempotentInstanceTerminated", http.StatusBadRequest)
}

func TestRunInstancesValidation(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	big := base64.StdEncoding.EncodeToString(make([]byte, 16*1024+1))
	fits := base64.StdEncoding.EncodeToString(make([]byte, 16*1024))
	tests := []struct {
		name     string
		mutate   func(*ec2.RunInstancesInput)
		wantCode string
		wantHTTP int
	}{
		{name: "dry run", mutate: func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true) }, wantCode: "DryRunOperation", wantHTTP: http.StatusPreconditionFailed},
		{name: "dry run with a bad type fails on the type", mutate: func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true); in.InstanceType = "x9.huge" }, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
		{name: "user data over 16 KB", mutate: func(in *ec2.RunInstancesInput) { in.UserData = aws.String(big) }, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
		{name: "user data of 16 KB", mutate: func(in *ec2.RunInstancesInput) { in.UserData = aws.String(fits) }},
		{name: "malformed image", mutate: func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("image-1") }, wantCode: "InvalidAMIID.Malformed", wantHTTP: http.StatusBadRequest},
		{name: "unknown zone", mutate: func(in *ec2.RunInstancesInput) {
			in.Placement = &types.Placement{AvailabilityZone: aws.String("us-east-1z")}
		}, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
		{name: "unknown subnet", mutate: func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-00000000") }, wantCode: "InvalidSubnetID.NotFound", wantHTTP: http.StatusBadRequest},
		{name: "max price below market", mutate: func(in *ec2.RunInstancesInput) {
			in.InstanceMarketOptions.SpotOptions.MaxPrice = aws.String("0.0001")
		}, wantCode: "SpotMaxPriceTooLow", wantHTTP: http.StatusBadRequest},
		{name: "token too long", mutate: func(in *ec2.RunInstancesInput) { in.ClientToken = aws.String(strings.Repeat("x", 65)) }, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
		{name: "min above max", mutate: func(in *ec2.RunInstancesInput) { in.MinCount = aws.Int32(3) }, wantCode: "InvalidParameterValue", wantHTTP: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := spotRun("", 1)
			tt.mutate(in)
			_, err := w.ec2.RunInstances(ctx(t), in)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("RunInstances: %v", err)
				}
				return
			}
			wantErr(t, err, tt.wantCode, tt.wantHTTP)
		})
	}
	if n := len(describeAll(t, w.ec2, &ec2.DescribeInstancesInput{})); n != 1 {
		t.Errorf("%d instances exist; want only the one valid launch", n)
	}
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	for i, team := range []string{"red", "red", "blue", "red", "blue", "red", "red"} {
		in := spotRun("", 1, "team", team)
		if i%2 == 0 {
			in.InstanceMarketOptions = nil
		}
		if _, err := w.ec2.RunInstances(ctx(t), in); err != nil {
			t.Fatal(err)
		}
	}
	all := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{})
	if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: ids(all[:1])}); err != nil {
		t.Fatal(err)
	}
	filt := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name    string
		filters []types.Filter
		want    int
	}{
		{name: "none", want: 7},
		{name: "tag", filters: []types.Filter{filt("tag:team", "red")}, want: 5},
		{name: "tag wildcard", filters: []types.Filter{filt("tag:team", "b*")}, want: 2},
		{name: "tag-key", filters: []types.Filter{filt("tag-key", "team")}, want: 7},
		{name: "absent tag", filters: []types.Filter{filt("tag:owner", "x")}, want: 0},
		{name: "state", filters: []types.Filter{filt("instance-state-name", "running", "pending")}, want: 6},
		{name: "lifecycle", filters: []types.Filter{filt("instance-lifecycle", "spot")}, want: 3},
		{name: "combined", filters: []types.Filter{filt("tag:team", "red"), filt("instance-state-name", "terminated", "shutting-down")}, want: 1},
		{name: "ids", filters: []types.Filter{filt("instance-id", ids(all[:2])...)}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{Filters: tt.filters, MaxResults: aws.Int32(5)})
			if len(got) != tt.want {
				t.Errorf("DescribeInstances(%v) found %d; want %d", tt.name, len(got), tt.want)
			}
		})
	}
	// Pages of 5 cover all seven exactly once.
	page1, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(page1.NextToken) == "" {
		t.Fatal("first page of 5 out of 7 has no NextToken")
	}
	_, err = w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: []types.Filter{filt("no-such-filter", "x")}})
	wantErr(t, err, "InvalidParameterValue", http.StatusBadRequest)
	_, err = w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantErr(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
	_, err = w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{ids(all)[1], "i-0123456789abcdef0"}})
	wantErr(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
	if n := len(describeAll(t, w.ec2, &ec2.DescribeInstancesInput{Filters: []types.Filter{filt("instance-state-name", "terminated", "shutting-down")}})); n != 1 {
		t.Errorf("a failed multi-id terminate changed state: %d terminated; want 1", n)
	}
}

func TestCreateTags(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1))
	if err != nil {
		t.Fatal(err)
	}
	id := ids(out.Instances)
	if _, err := w.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: id, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("ci")}}}); err != nil {
		t.Fatalf("CreateTags: %v", err)
	}
	got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:env"), Values: []string{"ci"}}}})
	if len(got) != 1 {
		t.Fatalf("found %d instances tagged env=ci; want 1", len(got))
	}
	_, err = w.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{"i-0000000000000dead"}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantErr(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
	_, err = w.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: id, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
	wantErr(t, err, "InvalidParameterValue", http.StatusBadRequest)
}

func TestShutdownBehaviour(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	tests := []struct {
		name     string
		behavior types.ShutdownBehavior
		want     types.InstanceStateName
	}{
		{name: "terminate", behavior: types.ShutdownBehaviorTerminate, want: types.InstanceStateNameTerminated},
		{name: "stop", behavior: types.ShutdownBehaviorStop, want: types.InstanceStateNameStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := spotRun("", 1)
			in.InstanceMarketOptions = nil
			in.InstanceInitiatedShutdownBehavior = tt.behavior
			out, err := w.ec2.RunInstances(ctx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			id := aws.ToString(out.Instances[0].InstanceId)
			if code := postJSON(t, w, "/_sim/shutdown", map[string]string{"instanceId": id}); code != http.StatusOK {
				t.Fatalf("POST /_sim/shutdown = %d", code)
			}
			got := describeAll(t, w.ec2, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})[0]
			if got.State.Name != tt.want {
				t.Errorf("after an OS shutdown with behaviour %s: %s; want %s", tt.behavior, got.State.Name, tt.want)
			}
		})
	}
}
