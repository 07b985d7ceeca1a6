package spot

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// maxPools bounds the overrides of one fleet request.
const maxPools = 300

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

type poolKey struct{ typ, az string }

// spotPrices returns the current Linux spot price of each (type, zone):
// with StartTime = EndTime = now EC2 returns the price in force at now.
func spotPrices(ctx context.Context, api ec2API, opt func(*ec2.Options), itypes []string, now time.Time) (map[poolKey]float64, error) {
	in := &ec2.DescribeSpotPriceHistoryInput{
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(now),
		EndTime:             aws.Time(now),
	}
	for _, t := range itypes {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	prices := map[poolKey]float64{}
	at := map[poolKey]time.Time{}
	p := ec2.NewDescribeSpotPriceHistoryPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, err
		}
		for _, h := range page.SpotPriceHistory {
			k := poolKey{string(h.InstanceType), aws.ToString(h.AvailabilityZone)}
			ts := aws.ToTime(h.Timestamp)
			if _, seen := at[k]; seen && ts.Before(at[k]) {
				continue
			}
			v, err := strconv.ParseFloat(aws.ToString(h.SpotPrice), 64)
			if err != nil {
				continue
			}
			prices[k], at[k] = v, ts
		}
	}
	return prices, nil
}

// pools lists the pools a launch offers EC2, cheapest first, dropping
// those the spec cannot use (type not offered there, price over MaxPrice)
// with a warning for each.
func (c *Client) pools(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, spec LaunchSpec, now time.Time) ([]Pool, map[poolKey]float64, []string, error) {
	prices, err := spotPrices(ctx, api, opt, spec.InstanceTypes, now)
	if err != nil {
		return nil, nil, nil, mapErr(err, "EC2 DescribeSpotPriceHistory in "+region)
	}
	var pools []Pool
	var warnings, overPrice []string
	for _, t := range dedupe(spec.InstanceTypes) {
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
		slices.Sort(zones)
		var cand []Pool
		switch {
		case len(spec.Subnets) > 0:
			// A subnet's zone is known only to EC2; quote the type's
			// cheapest zone.
			for _, s := range dedupe(spec.Subnets) {
				cand = append(cand, Pool{Type: t, Subnet: s, Price: money.FromDollars(cheapest)})
			}
		case len(spec.AvailabilityZones) > 0:
			for _, z := range dedupe(spec.AvailabilityZones) {
				p, ok := prices[poolKey{t, z}]
				if !ok {
					warnings = append(warnings, fmt.Sprintf("%s is not offered as spot in %s", t, z))
					continue
				}
				cand = append(cand, Pool{Type: t, AZ: z, Price: money.FromDollars(p)})
			}
		default:
			for _, z := range zones {
				cand = append(cand, Pool{Type: t, AZ: z, Price: money.FromDollars(prices[poolKey{t, z}])})
			}
		}
		for _, p := range cand {
			if spec.MaxPrice > 0 && p.Price > money.FromDollars(spec.MaxPrice) {
				overPrice = append(overPrice, fmt.Sprintf("%s/%s $%s", p.Type, cmpOr(p.AZ, p.Subnet), p.Price))
				continue
			}
			pools = append(pools, p)
		}
	}
	if len(overPrice) > 0 {
		warnings = append(warnings, fmt.Sprintf("skipped pools priced over maxPrice $%s: %s", formatPrice(spec.MaxPrice), strings.Join(overPrice, ", ")))
	}
	if len(pools) == 0 {
		if len(overPrice) > 0 {
			return nil, nil, warnings, apperr.New(apperr.PriceTooLow, "every pool's spot price is over maxPrice $%s (%s); raise maxPrice or allow other types", formatPrice(spec.MaxPrice), strings.Join(overPrice, ", "))
		}
		return nil, nil, warnings, apperr.New(apperr.Invalid, "instanceTypes: none of %s is offered as spot in %s%s", strings.Join(spec.InstanceTypes, ", "), region, zoneHint(spec))
	}
	slices.SortStableFunc(pools, func(a, b Pool) int { return cmp.Compare(a.Price, b.Price) })
	if len(pools) > maxPools {
		warnings = append(warnings, fmt.Sprintf("offered EC2 the %d cheapest of %d pools", maxPools, len(pools)))
		pools = pools[:maxPools]
	}
	return pools, prices, warnings, nil
}

func zoneHint(spec LaunchSpec) string {
	if len(spec.AvailabilityZones) > 0 {
		return " in zones " + strings.Join(spec.AvailabilityZones, ", ")
	}
	return ""
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

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

// create makes one CreateFleet call and returns its raw output.
func (f *fleetCall) create(ctx context.Context, token string, n int, onDemand bool, maxPrice, maxTotal float64, dry bool, out **ec2.CreateFleetOutput) error {
	overrides := make([]types.FleetLaunchTemplateOverridesRequest, 0, len(f.pools))
	for _, p := range f.pools {
		o := types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(p.Type)}
		if p.Subnet != "" {
			o.SubnetId = aws.String(p.Subnet)
		} else if p.AZ != "" {
			o.AvailabilityZone = aws.String(p.AZ)
		}
		if !onDemand && maxPrice > 0 {
			o.MaxPrice = aws.String(formatPrice(maxPrice))
		}
		overrides = append(overrides, o)
	}
	in := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(token),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{
				LaunchTemplateName: aws.String(f.tmpl.name),
				Version:            aws.String("$Latest"),
			},
			Overrides: overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity:       aws.Int32(int32(n)),
			DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		// Tags ride on the launch call itself, so no instance ever exists
		// without them (a separate CreateTags could fail after launch).
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ec2Tags(f.tags)}},
	}
	if dry {
		in.DryRun = aws.Bool(true)
	}
	total := ""
	if maxTotal > 0 {
		total = formatPrice(maxTotal)
	}
	if onDemand {
		in.TargetCapacitySpecification.DefaultTargetCapacityType = types.DefaultTargetCapacityTypeOnDemand
		in.OnDemandOptions = &types.OnDemandOptionsRequest{AllocationStrategy: types.FleetOnDemandAllocationStrategyLowestPrice}
		if total != "" {
			in.OnDemandOptions.MaxTotalPrice = aws.String(total)
		}
	} else {
		in.SpotOptions = &types.SpotOptionsRequest{AllocationStrategy: types.SpotAllocationStrategyPriceCapacityOptimized}
		if total != "" {
			in.SpotOptions.MaxTotalPrice = aws.String(total)
		}
	}
	o, err := f.api.CreateFleet(ctx, in, f.opt)
	if out != nil {
		*out = o
	}
	return err
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
func (c *Client) fleet(ctx context.Context, f *fleetCall, token string, n int, onDemand bool, maxPrice, maxTotal float64) (fleetResult, error) {
	var out *ec2.CreateFleetOutput
	err := f.create(ctx, token, n, onDemand, maxPrice, maxTotal, false, &out)
	if slices.Contains(templateMissing, awsCode(err)) || err == nil && onlyTemplateErrors(out) {
		c.rememberTemplate(f.region, f.tmpl.name, false)
		if err := c.ensureTemplate(ctx, f.api, f.opt, f.region, f.tmpl); err != nil {
			return fleetResult{}, err
		}
		err = f.create(ctx, token, n, onDemand, maxPrice, maxTotal, false, &out)
	}
	if err != nil {
		return fleetResult{}, mapErr(err, "EC2 CreateFleet in "+f.region)
	}
	expires, _ := time.Parse(time.RFC3339, f.tags[TagExpiresAt])
	var res fleetResult
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
			res.instances = append(res.instances, Instance{ID: id, Type: typ, AZ: az, Lifecycle: lifecycle, State: "pending", Price: money.FromDollars(price), ExpiresAt: expires})
		}
	}
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
	if onDemand {
		market = "on-demand"
	}
	for _, code := range codes {
		res.warnings = append(res.warnings, fmt.Sprintf("%s %s: %s", market, code, strings.Join(compact(byCode[code]), ", ")))
	}
	if len(res.instances) < n && len(out.Errors) == 0 {
		res.capacityShort = true // EC2 gave fewer without saying why
	}
	return res, nil
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
