package spot

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
)

func TestTerminate(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	mine := ids(e.mustLaunch(t, e.spec("tokA", "a", 2)).Instances)
	foreign := ids(e.mustLaunch(t, e.spec("tokB", "b", 1)).Instances)[0]

	tests := []struct {
		name           string
		ids            []string
		all            bool
		wantTerminated []string
		wantRefused    []RefusedID
		wantCode       string
	}{
		{name: "nothing named", wantCode: apperr.Invalid},
		{
			name:        "foreign instance refused by id",
			ids:         []string{foreign},
			wantRefused: []RefusedID{{foreign, RefusedForeign}},
		},
		{
			name:        "unknown and malformed refused",
			ids:         []string{"i-0123456789abcdef0", "sg-1"},
			wantRefused: []RefusedID{{"sg-1", RefusedMalformed}, {"i-0123456789abcdef0", RefusedNotFound}},
		},
		{
			name:           "own instance terminated, foreign refused",
			ids:            []string{mine[0], foreign},
			wantTerminated: []string{mine[0]},
			wantRefused:    []RefusedID{{foreign, RefusedForeign}},
		},
		{
			name:           "again is idempotent",
			ids:            []string{mine[0]},
			wantTerminated: []string{mine[0]},
		},
		{
			name:           "all ends the rest of the token only",
			all:            true,
			wantTerminated: []string{mine[1]},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.client.Terminate(ctx, e.creds, region, "tokA", tt.ids, tt.all)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Terminated, tt.wantTerminated) || !slices.Equal(res.Refused, tt.wantRefused) {
				t.Errorf("Terminate(%v, all=%v) = %v refused %v; want %v refused %v", tt.ids, tt.all, res.Terminated, res.Refused, tt.wantTerminated, tt.wantRefused)
			}
		})
	}
	for _, in := range e.simInstances() {
		if in.InstanceID == foreign && !isLive(in.State) {
			t.Errorf("foreign instance %s was terminated", foreign)
		}
	}
}

func TestStatusAndInterruption(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	launched := e.mustLaunch(t, e.spec("tokA", "a", 2)).Instances
	e.clock.Add(30 * time.Minute)

	st, err := e.client.Status(ctx, e.creds, region, "tokA", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 2 || st.HourlyCost <= 0 {
		t.Fatalf("Status = %+v; want 2 instances costing something", st)
	}
	for _, in := range st.Instances {
		if in.TTLLeftSeconds != 30*60 || in.CostSoFar <= 0 || in.State != "running" || in.LaunchTime.IsZero() {
			t.Errorf("instance %+v; want running, 30 min left, a cost so far", in)
		}
	}

	victim := launched[0].ID
	if err := e.sim.Interrupt(victim); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(3 * time.Minute) // past the two-minute notice
	st, err = e.client.Status(ctx, e.creds, region, "tokA", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Interrupted, []string{victim}) {
		t.Errorf("Interrupted = %v; want [%s]", st.Interrupted, victim)
	}
	rep, err := e.client.Reap(ctx, e.creds, region, e.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Actions, func(a ReapAction) bool { return a.Action == ActionInterrupted && a.InstanceID == victim }) {
		t.Errorf("Reap actions %+v do not report the interruption", rep.Actions)
	}

	other, err := e.client.Status(ctx, e.creds, region, "tokB", nil)
	if err != nil || len(other.Instances) != 0 {
		t.Errorf("Status(tokB) = %+v, %v; want no instances", other, err)
	}
}

func TestReap(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	short := e.spec("tokA", "short", 1)
	short.TTL = 10 * time.Minute
	expiring := ids(e.mustLaunch(t, short).Instances)
	keep := ids(e.mustLaunch(t, e.spec("tokA", "long", 1)).Instances)
	revokedIDs := ids(e.mustLaunch(t, e.spec("tokR", "r", 1)).Instances)
	revoked := func(tok string) bool { return tok == "tokR" }

	// Before the TTL only the revoked token's instance goes.
	rep, err := e.client.Reap(ctx, e.creds, region, e.clock.Now(), revoked)
	if err != nil {
		t.Fatal(err)
	}
	if got := terminated(rep); !slices.Equal(got, revokedIDs) {
		t.Errorf("first Reap terminated %v; want %v", got, revokedIDs)
	}
	if u := rep.Usage["tokA"]; u.Running != 2 || u.HourlySpend <= 0 || len(rep.Usage) != 1 {
		t.Errorf("first Reap usage %+v; want tokA running 2 at a price, and the revoked token's ended instance not counted", rep.Usage)
	}

	// Past the short TTL (and, for the templates made at the start, past the
	// grace period): the expired instance goes, and the templates no live
	// instance uses (the short spec's and the revoked token's) with it; the
	// long-lived instance's template stays.
	e.clock.Add(max(11*time.Minute, e.client.cfg.TemplateGrace))
	rep, err = e.client.Reap(ctx, e.creds, region, e.clock.Now(), revoked)
	if err != nil || len(rep.Errors) > 0 {
		t.Fatalf("Reap = %v, %v", rep.Errors, err)
	}
	if got := terminated(rep); !slices.Equal(got, expiring) {
		t.Errorf("Reap after TTL terminated %v; want %v", got, expiring)
	}
	if u := rep.Usage["tokA"]; u.Running != 1 {
		t.Errorf("Reap after TTL usage %+v; want tokA running 1", rep.Usage)
	}
	for _, in := range e.liveSimInstances() {
		if in.InstanceID != keep[0] {
			t.Errorf("instance %s still %s after reaping", in.InstanceID, in.State)
		}
	}
	var deleted []string
	for _, a := range rep.Actions {
		if a.Action == ActionDeleteTemplate {
			deleted = append(deleted, a.Template)
		}
	}
	if len(deleted) != 2 {
		t.Errorf("deleted templates %v; want 2", deleted)
	}
	for _, lt := range e.simRegion().Templates {
		if slices.Contains(deleted, lt.Name) {
			t.Errorf("template %s still exists", lt.Name)
		}
	}

	// A second reaper (or replica) finds nothing to do, and no error.
	rep, err = e.client.Reap(ctx, e.creds, region, e.clock.Now(), revoked)
	if err != nil || len(rep.Errors) > 0 || len(terminated(rep)) > 0 {
		t.Errorf("second Reap = %+v, %v; want nothing to do", rep, err)
	}
	// The long-lived launch spec still works: a deleted template is made again.
	e.mustLaunch(t, short)
	again := e.spec("tokR", "r2", 1)
	e.mustLaunch(t, again)
}

func terminated(rep ReapReport) []string {
	var out []string
	for _, a := range rep.Actions {
		if a.Action == ActionTerminate {
			out = append(out, a.InstanceID)
		}
	}
	return out
}

func TestPrice(t *testing.T) {
	e := mustEnv(t)
	types := []string{"m5.large", "c5.xlarge", "t3.micro"}
	res, err := e.client.Price(context.Background(), e.creds, region, types)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quotes) < len(types) {
		t.Fatalf("Price = %d quotes; want one per type and zone", len(res.Quotes))
	}
	if !slices.IsSortedFunc(res.Quotes, func(a, b PriceQuote) int { return cmp.Compare(a.PerVCPU, b.PerVCPU) }) {
		t.Errorf("quotes not cheapest per vCPU first")
	}
	for _, q := range res.Quotes {
		if q.VCPU == 0 || q.Spot <= 0 || q.OnDemand <= q.Spot || q.SavingPct <= 0 || q.SavingPct >= 100 {
			t.Errorf("quote %+v; want vCPUs, a spot price under on-demand and a saving", q)
		}
	}
}

func TestCancel(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	e.noSpot(t) // so legacy requests stay open
	_, rc, err := e.client.region(region)
	if err != nil {
		t.Fatal(err)
	}
	ec := rc.ec2.(*ec2.Client)
	request := func(tok string) string {
		out, err := ec.RequestSpotInstances(ctx, &ec2.RequestSpotInstancesInput{
			InstanceCount:       aws.Int32(1),
			LaunchSpecification: &ec2types.RequestSpotLaunchSpecification{ImageId: aws.String("ami-1"), InstanceType: "m5.large"},
			TagSpecifications: []ec2types.TagSpecification{{
				ResourceType: ec2types.ResourceTypeSpotInstancesRequest,
				Tags:         ec2Tags(map[string]string{TagToken: tok}),
			}},
		}, e.client.ec2Opts(e.creds))
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SpotInstanceRequests[0].SpotInstanceRequestId)
	}
	mine, theirs := request("tokA"), request("tokB")
	res, err := e.client.Cancel(ctx, e.creds, region, "tokA")
	if err != nil || !slices.Equal(res.Cancelled, []string{mine}) {
		t.Errorf("Cancel = %+v, %v; want [%s] only, not %s", res, err, mine, theirs)
	}
	res, err = e.client.Cancel(ctx, e.creds, region, "tokA")
	if err != nil || len(res.Cancelled) != 0 {
		t.Errorf("second Cancel = %+v, %v; want nothing left", res, err)
	}
	term, err := e.client.Terminate(ctx, e.creds, region, "tokB", nil, true)
	if err != nil || !slices.Equal(term.CancelledRequests, []string{theirs}) {
		t.Errorf("Terminate(all) = %+v, %v; want request %s cancelled", term, err, theirs)
	}
}
