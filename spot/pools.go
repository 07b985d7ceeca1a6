package spot

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// maxPools bounds the overrides of one fleet request.
const maxPools = 300

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
		cand, warn := typePools(spec, region, t, prices)
		warnings = append(warnings, warn...)
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

// typePools lists the pools of one instance type the spec allows, priced,
// whatever their price: in each subnet asked, else in each zone asked,
// else in every zone that offers the type as spot.
func typePools(spec LaunchSpec, region, t string, prices map[poolKey]float64) ([]Pool, []string) {
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
		return nil, []string{fmt.Sprintf("%s is not offered as spot in %s", t, region)}
	}
	slices.Sort(zones)
	var cand []Pool
	var warnings []string
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
	return cand, warnings
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
