package spot

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// replayBeforeLaunch answers a retried launch before anything is created.
// Given the token's live instances (listed for spec.Admit), a retry whose
// instances all still run is answered from them, and a new launch costs no
// lookup: if its ClientToken was used by a launch that has since ended,
// CreateFleet refuses it (IdempotentParameterMismatch) and
// replayAfterMismatch finds that launch. Only a retry of which some
// instances ended asks EC2, so the reply names every instance the first
// launch started. Without a list, EC2 is asked by tag.
func (c *Client) replayBeforeLaunch(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, tmpl template, live []Instance) (LaunchResult, bool, error) {
	if spec.Admit == nil {
		return c.replay(ctx, api, opt, spec, tmpl)
	}
	var mine []Instance
	for _, in := range live {
		if in.Tag(TagClientToken) == spec.ClientToken {
			mine = append(mine, in)
		}
	}
	switch {
	case len(mine) == 0:
		return LaunchResult{}, false, nil
	case len(mine) < spec.Count:
		return c.replay(ctx, api, opt, spec, tmpl)
	}
	res, err := c.replayed(ctx, api, opt, spec, tmpl, mine)
	return res, true, err
}

// replay looks for the instances of an earlier launch with this
// ClientToken. EC2 remembers the token too, but only for identical
// parameters, and a retry carries a new request id and expiry; the tag is
// what makes a retry find its launch, on any replica.
func (c *Client) replay(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, tmpl template) (LaunchResult, bool, error) {
	got, err := describe(ctx, api, opt,
		filter("tag:"+TagClientToken, spec.ClientToken),
		filter("tag:"+TagToken, spec.TokenID))
	if err != nil {
		return LaunchResult{}, false, mapErr(err, "EC2 DescribeInstances")
	}
	if len(got) == 0 {
		return LaunchResult{}, false, nil
	}
	res, err := c.replayed(ctx, api, opt, spec, tmpl, got)
	return res, true, err
}

// replayed is the reply to a retry: the first launch's instances, priced,
// and with Wait, running.
func (c *Client) replayed(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, tmpl template, got []Instance) (LaunchResult, error) {
	res := LaunchResult{Instances: got, Replayed: true, Template: got[0].Tags[TagTemplate]}
	if res.Template != tmpl.name {
		res.Warnings = append(res.Warnings, "this idempotency key was first used with other launch parameters; this is that launch")
	}
	if len(got) < spec.Count {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the original launch started %d of %d", len(got), spec.Count))
	}
	if !priced(res.Instances) {
		od := c.odPrices(ctx, spec.Credentials, spec.Region)
		c.priceInstances(ctx, api, opt, od, res.Instances)
		res.Warnings = append(res.Warnings, od.warnings()...)
	}
	if spec.Wait {
		if err := c.awaitRunning(ctx, api, opt, spec, &res); err != nil {
			return res, err
		}
	}
	for _, in := range res.Instances {
		res.HourlyCost += in.Price
	}
	return res, nil
}

// priced says every instance already carries its price (Live priced them
// for a spend cap), so a replay needs no price lookup.
func priced(ins []Instance) bool {
	for _, in := range ins {
		if in.Price <= 0 {
			return false
		}
	}
	return true
}

// replayAfterMismatch handles IdempotentParameterMismatch from CreateFleet:
// a launch with this ClientToken exists (made by another replica an
// instant ago, or earlier with other parameters). Its instances are looked
// up a few times, since DescribeInstances is eventually consistent.
func (c *Client) replayAfterMismatch(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, tmpl template, cause error) (LaunchResult, error) {
	for i := range 3 {
		res, ok, err := c.replay(ctx, api, opt, spec, tmpl)
		if err != nil || ok {
			return res, err
		}
		t := time.NewTimer(time.Duration(i+1) * 200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return LaunchResult{}, ctx.Err()
		case <-t.C:
		}
	}
	return LaunchResult{}, apperr.Wrap(cause, apperr.Conflict, "idempotencyKey: already used for a launch with other parameters, or one that has ended; use a new key")
}

// priceInstances fills the current price of each instance; best effort.
// On-demand instances are priced through od (the Price List API or the
// bundled table), which remembers what to warn about.
func (c *Client) priceInstances(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, ins []Instance) {
	var itypes []string
	for _, in := range ins {
		if in.Lifecycle == "spot" {
			itypes = append(itypes, in.Type)
		}
	}
	var prices map[poolKey]float64
	if len(itypes) > 0 {
		prices, _ = spotPrices(ctx, api, opt, dedupe(itypes), c.now().UTC())
	}
	var odTypes []string
	for _, in := range ins {
		if in.Lifecycle != "spot" {
			odTypes = append(odTypes, in.Type)
		}
	}
	od.prefetch(odTypes)
	for i, in := range ins {
		if in.Lifecycle == "spot" {
			ins[i].Price = money.FromDollars(prices[poolKey{in.Type, in.AZ}])
		} else {
			p, _ := od.price(in.Type)
			ins[i].Price = money.FromDollars(p)
		}
	}
}

// onDemandFallback launches the count spot could not fill on-demand, in
// the same pools, within MaxPrice (only types whose on-demand price is
// known to be under it) and what MaxTotalPrice leaves after the spot part.
// Its ClientToken is derived from the launch's, so it is idempotent too.
func (c *Client) onDemandFallback(ctx context.Context, f *fleetCall, spec LaunchSpec, missing int, have []Instance) (fleetResult, error) {
	var allowed []Pool
	var skipped []string
	for _, p := range f.pools {
		od, known := f.onDemand(p.Type)
		if spec.MaxPrice > 0 && (!known || od > spec.MaxPrice) {
			if !contains(skipped, p.Type) {
				skipped = append(skipped, p.Type)
			}
			continue
		}
		allowed = append(allowed, p)
	}
	if len(allowed) == 0 {
		return fleetResult{}, apperr.New(apperr.CapacityUnavailable,
			"no spot capacity in the pools tried (%s), and no allowed type is known to cost under maxPrice $%s on-demand", poolList(f.pools), formatPrice(spec.MaxPrice))
	}
	maxTotal := 0.0
	if spec.MaxTotalPrice > 0 {
		maxTotal = spec.MaxTotalPrice
		for _, in := range have {
			maxTotal -= in.Price.Dollars()
		}
		if maxTotal <= 0 {
			return fleetResult{}, apperr.New(apperr.CapacityUnavailable, "spot used the whole maxTotalPrice; nothing left for on-demand fallback")
		}
	}
	g := *f
	g.pools = allowed
	res, err := c.fleet(ctx, &g, fleetRequest{clientToken: ClientToken(spec.ClientToken, "on-demand"), count: missing, onDemand: true, maxTotal: maxTotal})
	if err != nil {
		return res, err
	}
	if len(skipped) > 0 {
		res.warnings = append(res.warnings, fmt.Sprintf("on-demand fallback skipped %v: on-demand price unknown or over maxPrice", skipped))
	}
	if n := len(res.instances); n > 0 {
		res.warnings = append(res.warnings, fmt.Sprintf("spot capacity was short: launched %d on-demand", n))
	}
	return res, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
