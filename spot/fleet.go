package spot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/money"
)

// fleetCall holds what both CreateFleet calls of a launch share.
type fleetCall struct {
	api    ec2API
	opt    func(*ec2.Options)
	region string
	tmpl   template
	pools  []Pool
	tags   map[string]string
	prices map[poolKey]float64
	// onDemand is the on-demand price of a type, when known.
	onDemand func(typ string) (float64, bool)
}

// fleetRequest is what differs between the CreateFleet calls of a launch:
// the spot call, its dry run and the on-demand fallback.
type fleetRequest struct {
	clientToken string
	count       int
	onDemand    bool    // on-demand capacity instead of spot
	maxPrice    float64 // per instance-hour, spot only; 0 = no cap
	maxTotal    float64 // the fleet's $/hour; 0 = no cap
	dryRun      bool
}

// create makes one CreateFleet call and returns its raw output.
func (f *fleetCall) create(ctx context.Context, r fleetRequest) (*ec2.CreateFleetOutput, error) {
	overrides := make([]types.FleetLaunchTemplateOverridesRequest, 0, len(f.pools))
	for _, p := range f.pools {
		o := types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(p.Type)}
		if p.Subnet != "" {
			o.SubnetId = aws.String(p.Subnet)
		} else if p.AZ != "" {
			o.AvailabilityZone = aws.String(p.AZ)
		}
		if !r.onDemand && r.maxPrice > 0 {
			o.MaxPrice = aws.String(formatPrice(r.maxPrice))
		}
		overrides = append(overrides, o)
	}
	in := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(r.clientToken),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateName: aws.String(f.tmpl.name),
				Version:            aws.String("$Latest"),
			},
			Overrides: overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(int32(r.count)),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		// Tags ride on the launch call itself, so no instance ever exists
		// without them (a separate CreateTags could fail after launch).
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ec2Tags(f.tags)}},
	}
	if r.dryRun {
		in.DryRun = aws.Bool(true)
	}
	r.market(in)
	return f.api.CreateFleet(ctx, in, f.opt)
}

// market sets the call's capacity type, allocation strategy and total
// price cap.
func (r fleetRequest) market(in *ec2.CreateFleetInput) {
	var total *string
	if r.maxTotal > 0 {
		total = aws.String(formatPrice(r.maxTotal))
	}
	if r.onDemand {
		in.TargetCapacitySpecification.DefaultTargetCapacityType = types.DefaultTargetCapacityTypeOnDemand
		in.OnDemandOptions = &types.OnDemandOptionsRequest{AllocationStrategy: types.FleetOnDemandAllocationStrategyLowestPrice, MaxTotalPrice: total}
		return
	}
	in.SpotOptions = &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategyPriceCapacityOptimized, MaxTotalPrice: total}
}

// fleetResult is one CreateFleet call's outcome.
type fleetResult struct {
	instances     []Instance
	warnings      []string
	capacityShort bool
	firstErr      error // first non-capacity error of the errorSet
}

var templateMissing = []string{"InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound"}

// fleet runs CreateFleet and reads its output. A template that has gone
// (the reaper of another replica, or another account behind the same
// cache) is created again and the call made once more with the same
// ClientToken.
func (c *Client) fleet(ctx context.Context, f *fleetCall, r fleetRequest) (fleetResult, error) {
	out, err := f.create(ctx, r)
	if slices.Contains(templateMissing, awsCode(err)) || err == nil && onlyTemplateErrors(out) {
		c.rememberTemplate(f.region, f.tmpl.name, false)
		if err := c.ensureTemplate(ctx, f.api, f.opt, f.region, f.tmpl); err != nil {
			return fleetResult{}, err
		}
		out, err = f.create(ctx, r)
	}
	if err != nil {
		return fleetResult{}, mapErr(err, "EC2 CreateFleet in "+f.region)
	}
	res := fleetResult{instances: f.started(out)}
	f.readErrors(out, r, &res)
	if len(res.instances) < r.count && len(out.Errors) == 0 {
		res.capacityShort = true // EC2 gave fewer without saying why
	}
	return res, nil
}

// started lists the instances a CreateFleet call started, priced.
func (f *fleetCall) started(out *ec2.CreateFleetOutput) []Instance {
	expires, _ := time.Parse(time.RFC3339, f.tags[TagExpiresAt])
	var ins []Instance
	for _, fi := range out.Instances {
		typ, az := string(fi.InstanceType), aws.ToString(fi.AvailabilityZone)
		if lto := fi.LaunchTemplateAndOverrides; lto != nil && lto.Overrides != nil {
			typ = cmpOr(typ, string(lto.Overrides.InstanceType))
			az = cmpOr(az, aws.ToString(lto.Overrides.AvailabilityZone))
		}
		lifecycle, price := "spot", 0.0
		if fi.Lifecycle == types.InstanceLifecycleSpot {
			price = f.spotPrice(typ, az)
		} else {
			lifecycle = "on-demand"
			price, _ = f.onDemand(typ)
		}
		for _, id := range fi.InstanceIds {
			ins = append(ins, Instance{ID: id, Type: typ, AZ: az, Lifecycle: lifecycle, State: "pending", Price: money.FromDollars(price), ExpiresAt: expires})
		}
	}
	return ins
}

// readErrors turns a CreateFleet call's error set into a warning per
// error code, naming its pools, and notes whether capacity was short and
// the first error that was not about capacity.
func (f *fleetCall) readErrors(out *ec2.CreateFleetOutput, r fleetRequest, res *fleetResult) {
	byCode := map[string][]string{}
	var codes []string
	for _, e := range out.Errors {
		code := aws.ToString(e.ErrorCode)
		where := ""
		if lto := e.LaunchTemplateAndOverrides; lto != nil && lto.Overrides != nil {
			where = string(lto.Overrides.InstanceType) + "/" + cmpOr(aws.ToString(lto.Overrides.AvailabilityZone), aws.ToString(lto.Overrides.SubnetId))
		}
		if _, ok := byCode[code]; !ok {
			codes = append(codes, code)
		}
		byCode[code] = append(byCode[code], where)
		if isCapacityCode(code) {
			res.capacityShort = true
		} else if res.firstErr == nil {
			res.firstErr = mapErr(&smithy.GenericAPIError{Code: code, Message: aws.ToString(e.ErrorMessage)}, "EC2 CreateFleet in "+f.region)
		}
	}
	market := "spot"
	if r.onDemand {
		market = "on-demand"
	}
	for _, code := range codes {
		res.warnings = append(res.warnings, fmt.Sprintf("%s %s: %s", market, code, strings.Join(compact(byCode[code]), ", ")))
	}
}
func compact(s []string) []string {
	out := s[:0:0]
	for _, v := range s {
		if v != "" && v != "/" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func onlyTemplateErrors(out *ec2.CreateFleetOutput) bool {
	if out == nil || len(out.Instances) > 0 || len(out.Errors) == 0 {
		return false
	}
	for _, e := range out.Errors {
		if !slices.Contains(templateMissing, aws.ToString(e.ErrorCode)) {
			return false
		}
	}
	return true
}

func (f *fleetCall) spotPrice(typ, az string) float64 {
	if p, ok := f.prices[poolKey{typ, az}]; ok {
		return p
	}
	for _, p := range f.pools {
		if p.Type == typ {
			return p.Price.Dollars()
		}
	}
	return 0
}
