package spot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// TagPool names the pool an instance belongs to (issue 12). The
// reconciler lists a pool's instances by it; the reaper's TTL guard and
// spotter:expires-at hold for pool instances as for any other.
const TagPool = "spotter:pool"

// PoolConfig is one launch config of a pool launch: the instance types it
// stands for (patterns already expanded) and how many capacity units one
// instance of them is (CreateFleet's WeightedCapacity).
type PoolConfig struct {
	InstanceTypes []string
	Weight        int
	// MaxPrice is what one instance of this config may cost per hour (a
	// faster config's utility lets it cost more); 0: the spec's MaxPrice.
	MaxPrice float64
}

// PoolLaunchSpec is one reconciler decision's launch, already inside the
// token's policy. Every field that reaches CreateFleet is fixed by the
// decision (At included), so a retry sends the same request and EC2 (or
// awssim) answers it with the first fleet.
type PoolLaunchSpec struct {
	Credentials aws.CredentialsProvider
	Region      string
	TokenID     string
	Pool        string
	ClientToken string
	Configs     []PoolConfig
	Subnets     []string // none: every zone that offers the types
	// Capacity is TotalTargetCapacity in units; OnDemand of them are
	// on-demand (the pool's on-demand base).
	Capacity, OnDemand int
	// OnDemandFallback launches on-demand what spot capacity could not
	// meet, in a second CreateFleet.
	OnDemandFallback bool
	MaxPrice         float64 // $/instance-hour; 0: EC2's (on-demand) cap
	MaxTotalPrice    float64 // $/h of the whole fleet; 0: none
	AMI              string
	UserData         []byte // the operator's, raw; the TTL guard is added
	TTL              time.Duration
	// At is the decision's time: spotter:expires-at is At + TTL.
	At time.Time
	// Admit is handed the token's other live instances before anything is
	// created (its caps: maxRunning, maxHourlySpend); it returns the fleet
	// price cap left, 0 for none, or an error that refuses the launch.
	Admit func(others []Instance) (float64, error)
}

// PoolLaunchResult is what a pool launch started.
type PoolLaunchResult struct {
	Instances  []Instance `json:"instances"`
	Replayed   bool       `json:"replayed,omitempty"`
	Template   string     `json:"template,omitempty"`
	Warnings   []string   `json:"warnings,omitempty"`
	HourlyCost money.USD  `json:"hourlyCost,omitempty"`
}

func (s PoolLaunchSpec) validate() error {
	switch {
	case s.Credentials == nil || s.TokenID == "" || s.Pool == "":
		return errors.New("spot: PoolLaunchSpec needs Credentials, TokenID and Pool")
	case s.ClientToken == "" || len(s.ClientToken) > 61 || !printableASCII(s.ClientToken):
		// 61: the on-demand fallback's token adds "-od" within EC2's 64.
		return errors.New("spot: PoolLaunchSpec.ClientToken must be 1-61 printable ASCII characters")
	case len(s.Configs) == 0 || s.Capacity < 1 || s.OnDemand < 0 || s.OnDemand > s.Capacity:
		return fmt.Errorf("spot: pool launch of %d units (%d on-demand) over %d configs", s.Capacity, s.OnDemand, len(s.Configs))
	case !amiRE.MatchString(s.AMI):
		return apperr.New(apperr.Invalid, "ami: %q is not an AMI id (ami-…)", s.AMI)
	case s.TTL <= 0 || s.At.IsZero():
		return errors.New("spot: PoolLaunchSpec needs a TTL and the decision's time")
	}
	for _, c := range s.Configs {
		if c.Weight < 1 {
			return errors.New("spot: PoolConfig.Weight must be at least 1")
		}
	}
	return nil
}

// LaunchPool starts spec.Capacity units with one instant EC2 Fleet over
// every config's types × subnets (or zones), weighted, price-capacity-
// optimized, with spec.OnDemand units on-demand. Each instance carries
// spotter:pool besides the tags and TTL guard every launch has. A retry
// with the same ClientToken finds the first launch's instances by tag (or
// EC2 answers it with the same fleet) and starts nothing.
func (c *Client) LaunchPool(ctx context.Context, spec PoolLaunchSpec) (PoolLaunchResult, error) {
	region, api, err := c.ec2For(spec.Region)
	if err != nil {
		return PoolLaunchResult{}, err
	}
	if err := spec.validate(); err != nil {
		return PoolLaunchResult{}, err
	}
	opt := c.ec2Opts(spec.Credentials)
	userData, err := buildUserData(spec.UserData, spec.TTL)
	if err != nil {
		return PoolLaunchResult{}, err
	}
	tmpl := poolTemplate(spec, userData)
	if res, ok, err := c.poolReplay(ctx, api, opt, spec); err != nil || ok {
		return res, err
	}
	od := c.odPrices(ctx, spec.Credentials, region)
	if err := c.poolAdmit(ctx, api, opt, od, &spec); err != nil {
		return PoolLaunchResult{}, err
	}
	weights, overrides, prices, warnings, err := c.poolOverrides(ctx, api, opt, region, spec)
	if err != nil {
		return PoolLaunchResult{}, err
	}
	if err := c.ensureTemplate(ctx, api, opt, region, tmpl); err != nil {
		return PoolLaunchResult{}, err
	}
	tags := map[string]string{
		TagToken: spec.TokenID, TagPool: spec.Pool, TagRequest: spec.ClientToken, TagClientToken: spec.ClientToken,
		TagExpiresAt: spec.At.UTC().Add(spec.TTL).Truncate(time.Second).Format(time.RFC3339),
		TagTemplate:  tmpl.name, "Name": "spotter pool " + spec.Pool,
	}
	out, err := c.createPoolFleet(ctx, api, opt, region, tmpl, poolFleetInput(spec, tmpl.name, overrides, tags))
	if awsCode(err) == "IdempotentParameterMismatch" {
		// The token was used with other parameters (a decision of an
		// earlier incarnation's clock): its instances are that launch.
		if res, ok, rerr := c.poolReplay(ctx, api, opt, spec); rerr != nil || ok {
			return res, rerr
		}
	}
	if err != nil {
		return PoolLaunchResult{}, mapErr(err, "EC2 CreateFleet in "+region)
	}
	res := poolResult(out, prices, od, tags)
	res.Template, res.Warnings = tmpl.name, append(warnings, res.Warnings...)
	units := 0
	for _, in := range res.Instances {
		units += weights[in.Type]
	}
	if missing := spec.Capacity - units; missing > 0 && spec.OnDemandFallback {
		more, err := c.createPoolFleet(ctx, api, opt, region, tmpl, poolFallbackInput(spec, tmpl.name, overrides, tags, missing))
		if err != nil {
			res.Warnings = append(res.Warnings, "on-demand fallback: "+apperr.Details(mapErr(err, "EC2 CreateFleet (on-demand) in "+region)))
		} else {
			fb := poolResult(more, prices, od, tags)
			res.Instances, res.Warnings, res.HourlyCost = append(res.Instances, fb.Instances...), append(res.Warnings, fb.Warnings...), res.HourlyCost+fb.HourlyCost
			for _, in := range fb.Instances {
				units += weights[in.Type]
			}
		}
	}
	if len(res.Instances) == 0 {
		return res, apperr.New(apperr.CapacityUnavailable, "pool %s: no capacity for %d units in any pool tried (%s)", spec.Pool, spec.Capacity, strings.Join(res.Warnings, "; "))
	}
	if units < spec.Capacity {
		res.Warnings = append(res.Warnings, fmt.Sprintf("launched %d of %d units", units, spec.Capacity))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "pool launched", slog.String("pool", spec.Pool), slog.Int("instances", len(res.Instances)), slog.Int("units", units))
	return res, nil
}

// poolAdmit hands spec.Admit the token's live instances, and lowers the
// fleet's price cap to the budget it leaves.
func (c *Client) poolAdmit(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, spec *PoolLaunchSpec) error {
	if spec.Admit == nil {
		return nil
	}
	live, err := c.live(ctx, api, opt, od, spec.TokenID, true)
	if err != nil {
		return err
	}
	left, err := spec.Admit(live)
	if err != nil {
		return err
	}
	if left > 0 && (spec.MaxTotalPrice == 0 || left < spec.MaxTotalPrice) {
		spec.MaxTotalPrice = left
	}
	return nil
}

// createPoolFleet sends the CreateFleet, making the template again (and
// sending the same request once more) if it has gone meanwhile.
func (c *Client) createPoolFleet(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, tmpl template, in *ec2.CreateFleetInput) (*ec2.CreateFleetOutput, error) {
	out, err := api.CreateFleet(ctx, in, opt)
	if slices.Contains(templateMissing, awsCode(err)) {
		c.rememberTemplate(region, tmpl.name, false)
		if err := c.ensureTemplate(ctx, api, opt, region, tmpl); err != nil {
			return nil, err
		}
		out, err = api.CreateFleet(ctx, in, opt)
	}
	return out, err
}

// poolResult reads CreateFleet's answer: the instances, priced, and its
// errors as warnings.
func poolResult(out *ec2.CreateFleetOutput, prices map[poolKey]float64, od *odPrices, tags map[string]string) PoolLaunchResult {
	var res PoolLaunchResult
	expires, _ := time.Parse(time.RFC3339, tags[TagExpiresAt])
	for _, fi := range out.Instances {
		typ, az := string(fi.InstanceType), aws.ToString(fi.AvailabilityZone)
		if lto := fi.LaunchTemplateAndOverrides; lto != nil && lto.Overrides != nil {
			typ = cmpOr(typ, string(lto.Overrides.InstanceType))
			az = cmpOr(az, aws.ToString(lto.Overrides.AvailabilityZone))
		}
		lifecycle, price := "spot", prices[poolKey{typ, az}]
		if price == 0 {
			price = prices[poolKey{typ, ""}]
		}
		if fi.Lifecycle != types.InstanceLifecycleSpot {
			lifecycle = "on-demand"
			price, _ = od.price(typ)
		}
		for _, id := range fi.InstanceIds {
			in := Instance{ID: id, Type: typ, AZ: az, Lifecycle: lifecycle, State: "pending", Price: money.FromDollars(price),
				ExpiresAt: expires, Tags: tags}
			res.Instances = append(res.Instances, in)
			res.HourlyCost += in.Price
		}
	}
	for _, e := range out.Errors {
		res.Warnings = append(res.Warnings, aws.ToString(e.ErrorCode)+": "+truncate(aws.ToString(e.ErrorMessage), 200))
	}
	return res
}

// poolTemplate is the pool's launch template: named by its token, AMI,
// user data and pool, so each pool has its own and its volumes carry
// spotter:pool.
func poolTemplate(spec PoolLaunchSpec, userData []byte) template {
	var ls LaunchSpec
	ls.TokenID, ls.AMI, ls.Tags = spec.TokenID, spec.AMI, map[string]string{TagPool: spec.Pool}
	return newTemplate(ls, userData)
}

// poolReplay finds the instances an earlier launch with spec's ClientToken
// started, by tag.
func (c *Client) poolReplay(ctx context.Context, api ec2API, opt func(*ec2.Options), spec PoolLaunchSpec) (PoolLaunchResult, bool, error) {
	got, err := describe(ctx, api, opt, filter("tag:"+TagClientToken, spec.ClientToken), filter("tag:"+TagToken, spec.TokenID))
	if err != nil {
		return PoolLaunchResult{}, false, mapErr(err, "EC2 DescribeInstances")
	}
	if len(got) == 0 {
		return PoolLaunchResult{}, false, nil
	}
	res := PoolLaunchResult{Instances: got, Replayed: true, Template: got[0].Tag(TagTemplate)}
	for _, in := range got {
		res.HourlyCost += in.Price
	}
	return res, true, nil
}

// poolOverrides is every (type, subnet or zone) of the spec, weighted, with
// the spot prices it found: the weight of each type (the heaviest config
// that names it wins), the overrides, prices by (type, zone) and, for
// subnets, by (type, "") at the type's cheapest zone.
func (c *Client) poolOverrides(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, spec PoolLaunchSpec) (map[string]int, []types.FleetLaunchTemplateOverridesRequest, map[poolKey]float64, []string, error) {
	all, weights, bids := spec.types()
	all, warnings, err := c.bootable(ctx, api, opt, region, spec.AMI, all)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	prices, err := spotPrices(ctx, api, opt, all, c.now().UTC())
	if err != nil {
		return nil, nil, nil, nil, mapErr(err, "EC2 DescribeSpotPriceHistory in "+region)
	}
	var overrides []types.FleetLaunchTemplateOverridesRequest
	add := func(t string, set func(*types.FleetLaunchTemplateOverridesRequest)) {
		o := types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(t), WeightedCapacity: aws.Float64(float64(weights[t]))}
		if bids[t] > 0 {
			o.MaxPrice = aws.String(formatPrice(bids[t]))
		}
		set(&o)
		overrides = append(overrides, o)
	}
	for _, t := range all {
		var zones []string
		cheapest := 0.0
		for k, p := range prices {
			if k.typ == t {
				zones = append(zones, k.az)
				if cheapest == 0 || p < cheapest {
					cheapest = p
				}
			}
		}
		if len(zones) == 0 {
			warnings = append(warnings, fmt.Sprintf("%s is not offered as spot in %s", t, region))
			continue
		}
		if bids[t] > 0 && cheapest > bids[t] {
			warnings = append(warnings, fmt.Sprintf("%s skipped: spot $%s/h is over its maxPrice $%s", t, formatPrice(cheapest), formatPrice(bids[t])))
			continue
		}
		slices.Sort(zones)
		if len(spec.Subnets) > 0 {
			prices[poolKey{t, ""}] = cheapest
			for _, s := range dedupe(spec.Subnets) {
				add(t, func(o *types.FleetLaunchTemplateOverridesRequest) { o.SubnetId = aws.String(s) })
			}
			continue
		}
		for _, z := range zones {
			add(t, func(o *types.FleetLaunchTemplateOverridesRequest) { o.AvailabilityZone = aws.String(z) })
		}
	}
	if len(overrides) == 0 {
		return nil, nil, nil, warnings, apperr.New(apperr.CapacityUnavailable, "pool %s: no instance type of its launch configs can launch in %s (%s)", spec.Pool, region, strings.Join(warnings, "; "))
	}
	if len(overrides) > maxPools {
		warnings = append(warnings, fmt.Sprintf("offered EC2 the first %d of %d pools", maxPools, len(overrides)))
		overrides = overrides[:maxPools]
	}
	return weights, overrides, prices, warnings, nil
}

// types lists the spec's instance types in order, each with its weight
// and its price cap: a type several configs name takes the heaviest
// weight and the highest cap among them.
func (s PoolLaunchSpec) types() ([]string, map[string]int, map[string]float64) {
	weights, bids := map[string]int{}, map[string]float64{}
	var all []string
	for _, cfg := range s.Configs {
		bid := cfg.MaxPrice
		if bid == 0 {
			bid = s.MaxPrice
		}
		for _, t := range cfg.InstanceTypes {
			if _, seen := weights[t]; !seen {
				all = append(all, t)
			}
			weights[t], bids[t] = max(weights[t], cfg.Weight), max(bids[t], bid)
		}
	}
	return all, weights, bids
}

// poolFleetInput is the one CreateFleet of a pool launch.
func poolFleetInput(spec PoolLaunchSpec, tmpl string, overrides []types.FleetLaunchTemplateOverridesRequest, tags map[string]string) *ec2.CreateFleetInput {
	in := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(spec.ClientToken),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateName: aws.String(tmpl), Version: aws.String("$Latest"),
			},
			Overrides: overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(int32(spec.Capacity)),
			OnDemandTargetCapacity:    aws.Int32(int32(spec.OnDemand)),
			SpotTargetCapacity:        aws.Int32(int32(spec.Capacity - spec.OnDemand)),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		SpotOptions:       &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategyPriceCapacityOptimized},
		OnDemandOptions:   &types.OnDemandOptionsRequest{AllocationStrategy: types.FleetOnDemandAllocationStrategyLowestPrice},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ec2Tags(tags)}},
	}
	if spec.MaxTotalPrice > 0 {
		total := aws.String(formatPrice(spec.MaxTotalPrice))
		in.SpotOptions.MaxTotalPrice = total
		in.OnDemandOptions.MaxTotalPrice = total
	}
	return in
}

// poolFallbackInput is the on-demand CreateFleet for the units spot could
// not meet. Its ClientToken is derived from the launch's, so a retry of
// the fallback is as idempotent; its instances carry the launch's
// client-token tag, so a retry of the launch finds them too.
func poolFallbackInput(spec PoolLaunchSpec, tmpl string, overrides []types.FleetLaunchTemplateOverridesRequest, tags map[string]string, missing int) *ec2.CreateFleetInput {
	ods := slices.Clone(overrides)
	for i := range ods {
		ods[i].MaxPrice = nil // a spot bid
	}
	in := poolFleetInput(spec, tmpl, ods, tags)
	in.ClientToken = aws.String(spec.ClientToken + "-od")
	in.TargetCapacitySpecification = &types.TargetCapacitySpecificationRequest{
		TotalTargetCapacity: aws.Int32(int32(missing)), OnDemandTargetCapacity: aws.Int32(int32(missing)),
		DefaultTargetCapacityType: types.DefaultTargetCapacityTypeOnDemand,
	}
	in.SpotOptions = nil
	return in
}

// PoolInstances lists a pool's pending and running instances (by its
// spotter:pool and spotter:token tags), priced, with spot interruption
// notices marked.
func (c *Client) PoolInstances(ctx context.Context, creds aws.CredentialsProvider, region, tokenID, poolName string) ([]Instance, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return nil, err
	}
	opt := c.ec2Opts(creds)
	ins, err := describe(ctx, api, opt, filter("tag:"+TagToken, tokenID), filter("tag:"+TagPool, poolName),
		filter("instance-state-name", "pending", "running"))
	if err != nil {
		return nil, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	if len(ins) == 0 {
		return ins, nil
	}
	c.priceInstances(ctx, api, opt, c.odPrices(ctx, creds, region), ins)
	if notices, err := c.interruptionNotices(ctx, api, opt, ins); err == nil {
		for i := range ins {
			ins[i].Interrupted = ins[i].Interrupted || notices[ins[i].ID]
		}
	}
	return ins, nil
}
