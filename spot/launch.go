package spot

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/money"
)

// LaunchSpec is one launch, already inside the token's policy: the
// launch the policy decided (api.Launch; spot holds MaxPriceAsked to
// MaxPriceOnDemandFactor × the asked types' on-demand price), and what
// this call adds to it.
type LaunchSpec struct {
	api.Launch
	// Credentials for this call, from Session.
	Credentials aws.CredentialsProvider
	TokenID     string
	// RequestID is the HTTP request id, tagged for audit correlation.
	RequestID string
	// ClientToken is ClientToken(tokenID, idempotency key): it makes the
	// launch idempotent across retries and replicas.
	ClientToken string

	// AvailabilityZones are zones in the default VPC, instead of Subnets;
	// neither = every zone offering the types.
	AvailabilityZones []string
	MaxTotalPrice     float64 // fleet $/hour, 0 = no cap
	Wait              bool    // wait (bounded) until running and fill IPs
	// GuardTTL arms the instance's own TTL guard (in its user data) this
	// long after first boot, when longer than TTL: a policy that allows
	// extend sets its maxTTL, since an extension moves only the tag the
	// reaper reads and cannot reach into the instance. 0: TTL.
	GuardTTL time.Duration

	// Admit, when set, has Launch list the token's pending and running
	// instances (side by side with the pool prices) and hand it those not
	// of this launch before anything is created: an error refuses the
	// launch (a policy's maxRunning or spend cap); otherwise it returns
	// the fleet's total price cap left, 0 for none. A retry whose
	// instances still run is answered from that list, before Admit.
	// AdmitPrices: Admit needs the instances' current prices.
	Admit       func(others []Instance) (maxTotalPrice float64, err error)
	AdmitPrices bool
	// AdmitCounts: Admit counts the token's instances itself (a ledger
	// keeping its count, listed by Client.Live when needed), so Launch
	// lists only this launch's own, for a retry, and others is empty.
	AdmitCounts bool
	// MaxTotalPriceRule names the policy rule a total price cap comes from
	// (maxHourlySpend): a cap too small for one instance is then refused as
	// that rule, policy_denied, not as a lack of capacity.
	MaxTotalPriceRule string
	// Started, when set, is told the instances EC2 started as soon as it
	// answered, before any Wait: what Admit reserved is settled then, not
	// minutes later.
	Started func(instances []Instance)
}

// Pool is one spot pool (instance type × zone or subnet) a launch offered
// to EC2, with its current spot price.
type Pool struct {
	Type   string    `json:"type"`
	AZ     string    `json:"az,omitempty"`
	Subnet string    `json:"subnet,omitempty"`
	Price  money.USD `json:"price,omitempty"`
}

// LaunchResult is what a launch did, or in a dry run would do.
type LaunchResult struct {
	Instances []Instance `json:"instances"`
	Pools     []Pool     `json:"pools"`
	Warnings  []string   `json:"warnings,omitempty"`
	Replayed  bool       `json:"replayed,omitempty"`
	DryRun    bool       `json:"dryRun,omitempty"`
	// Template is the launch template used; HourlyCost the sum of the
	// instances' prices (in a dry run, Count at the cheapest pool).
	Template   string    `json:"template,omitempty"`
	HourlyCost money.USD `json:"hourlyCost,omitempty"`
}

// Launch starts spec.Count instances with one instant EC2 Fleet over every
// pool spec allows (price-capacity-optimized), each tagged and with a TTL
// that holds without spotter. Launching is idempotent per ClientToken: a
// repeat returns the first launch's instances with Replayed set.
//
// When spot capacity is short and OnDemandFallback is set, the missing
// count is launched on-demand within MaxPrice and MaxTotalPrice.
//
// A launch runs in phases: plan (check the spec, nothing created), admit
// (answer a retry from its instances, or have spec.Admit accept it),
// price cap, fleet (spot, then the on-demand fallback) and settle (report,
// with Wait until running).
//
// Errors: invalid_request (naming the field), capacity_unavailable (naming
// the pools tried), aws_auth_failed, aws_throttled, aws_unavailable.
func (c *Client) Launch(ctx context.Context, spec LaunchSpec) (LaunchResult, error) {
	l, err := c.plan(ctx, spec)
	if err != nil {
		return LaunchResult{}, err
	}
	// The token's live instances (for Admit and a retry) and the pool
	// prices are independent: look them up side by side, so a launch costs
	// one AWS round trip less in latency. The price lookup is cancelled if
	// the launch turns out to be a replay.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pc := l.lookupPools(pctx)
	if res, done, err := l.admit(ctx); done {
		return res, err
	}
	p := <-pc
	if p.err != nil {
		return LaunchResult{}, p.err
	}
	l.pools = p.pools
	res := LaunchResult{Pools: p.pools, Warnings: append(l.warnings, p.warnings...), Template: l.tmpl.name, DryRun: l.spec.DryRun}
	if err := l.priceCap(); err != nil {
		return res, err
	}
	if err := c.ensureTemplate(ctx, l.api, l.opt, l.region, l.tmpl); err != nil {
		return res, err
	}
	f := l.fleetCall(p.prices)
	if l.spec.DryRun {
		return l.dryRun(ctx, &f, res)
	}
	out, err := c.fleet(ctx, &f, l.spotRequest())
	if awsCode(err) == "IdempotentParameterMismatch" {
		// Another replica (or an earlier try) holds this ClientToken with
		// other tags (its request id, its expiry): that launch is ours.
		return l.replayAfterMismatch(ctx, err)
	}
	if err != nil {
		return res, err
	}
	res.Instances = out.instances
	res.Warnings = append(res.Warnings, out.warnings...)
	if err := l.fallback(ctx, &f, out, &res); err != nil {
		return res, err
	}
	return l.settle(ctx, out, res)
}

// launch is one Launch under way: what its phases share.
type launch struct {
	c      *Client
	spec   LaunchSpec
	region string
	api    ec2API
	opt    func(*ec2.Options)
	now    time.Time
	// od holds the on-demand prices (to bound maxPrice, of live instances
	// for the spend cap, of fallback pools), from the Price List API with
	// the token's credentials.
	od       *odPrices
	tmpl     template
	log      *slog.Logger
	warnings []string // of the plan: types the AMI cannot boot
	pools    []Pool   // offered to EC2, cheapest first, once priced
}

// plan checks the spec and works out what it launches: the region's
// client, the user data with its TTL guard, the types the AMI boots, the
// bound on maxPrice and the launch template. It creates nothing.
func (c *Client) plan(ctx context.Context, spec LaunchSpec) (*launch, error) {
	region, api, err := c.ec2For(spec.Region)
	if err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	l := &launch{c: c, region: region, api: api, now: c.now().UTC()}
	userData, err := buildUserData(spec.UserData, spec.guardTTL())
	if err != nil {
		return nil, err
	}
	l.opt = c.ec2Opts(spec.Credentials)
	// Only pools the AMI can boot in are offered to EC2.
	if spec.InstanceTypes, l.warnings, err = c.bootable(ctx, api, l.opt, region, spec.AMI, dedupe(spec.InstanceTypes)); err != nil {
		return nil, err
	}
	l.od = c.odPrices(ctx, spec.Credentials, region)
	if err := c.checkMaxPrice(l.od, spec.InstanceTypes, spec.MaxPrice, spec.MaxPriceAsked); err != nil {
		return nil, err
	}
	l.spec, l.tmpl = spec, newTemplate(spec, userData)
	l.log = c.log.With(slog.String("token", spec.TokenID), slog.String("region", region), slog.String("request", spec.RequestID))
	return l, nil
}

// pricedPools is the pools a launch may offer EC2, with their spot prices.
type pricedPools struct {
	pools    []Pool
	prices   map[poolKey]float64
	warnings []string
	err      error
}

// lookupPools prices the pools in the background. The goroutine gets its
// own copy of the spec, whose price cap admit may change meanwhile.
func (l *launch) lookupPools(ctx context.Context) <-chan pricedPools {
	pc := make(chan pricedPools, 1)
	go func(spec LaunchSpec) {
		var p pricedPools
		// A panic here would end the process: it becomes this launch's error.
		defer func() { pc <- p }()
		defer safe.Recover(ctx, l.c.log, "spot price lookup", &p.err, "region", l.region, "token", spec.TokenID)
		p.pools, p.prices, p.warnings, p.err = l.c.pools(ctx, l.api, l.opt, l.region, spec, l.now)
	}(l.spec)
	return pc
}

// admit answers a retry from the instances its first launch started, or
// has spec.Admit accept the launch against the token's other live
// instances, taking the fleet price cap it leaves. done: the launch ends
// here, with res (a replay) or err.
func (l *launch) admit(ctx context.Context) (res LaunchResult, done bool, err error) {
	var live []Instance
	if l.spec.Admit != nil {
		if live, err = l.c.admitList(ctx, l.api, l.opt, l.od, l.spec); err != nil {
			return LaunchResult{}, true, err
		}
	}
	if !l.spec.DryRun {
		if res, ok, err := l.replayBeforeLaunch(ctx, live); err != nil || ok {
			return res, true, err
		}
	}
	if l.spec.Admit == nil {
		return LaunchResult{}, false, nil
	}
	var others []Instance
	for _, in := range live {
		// A retry must find its own instances, not count them against
		// the caps and be refused.
		if in.Tag(TagClientToken) != l.spec.ClientToken {
			others = append(others, in)
		}
	}
	left, err := l.spec.Admit(others)
	if err != nil {
		return LaunchResult{}, true, err
	}
	if left > 0 {
		l.spec.MaxTotalPrice = left
	}
	return LaunchResult{}, false, nil
}

// priceCap refuses a fleet price cap that does not pay for one instance
// in the cheapest pool, unless on-demand may make up for spot: as the
// policy rule it comes from, when it comes from one.
func (l *launch) priceCap() error {
	cheapest, limit := l.pools[0], l.spec.MaxTotalPrice
	if limit <= 0 || limit >= cheapest.Price.Dollars() || l.spec.OnDemandFallback {
		return nil
	}
	where := fmt.Sprintf("(%s/%s at $%s/h)", cheapest.Type, cmpOr(cheapest.AZ, cheapest.Subnet), cheapest.Price)
	if l.spec.MaxTotalPriceRule != "" {
		return apperr.New(apperr.PolicyDenied, "rule %s: the $%s/h left does not pay for one instance in the cheapest pool %s",
			l.spec.MaxTotalPriceRule, formatPrice(limit), where)
	}
	return apperr.New(apperr.PriceTooLow, "maxTotalPrice $%s/h does not pay for one instance in the cheapest pool %s; raise it",
		formatPrice(limit), where)
}

// fleetCall is what the launch's CreateFleet calls share: the template,
// the pools and the instances' tags.
func (l *launch) fleetCall(prices map[poolKey]float64) fleetCall {
	spec := l.spec
	tags := map[string]string{
		TagToken:       spec.TokenID,
		TagRequest:     cmpOr(spec.RequestID, spec.ClientToken),
		TagClientToken: spec.ClientToken,
		TagExpiresAt:   l.now.Add(spec.TTL).Truncate(time.Second).Format(time.RFC3339),
		TagTemplate:    l.tmpl.name,
	}
	if spec.GuardTTL > spec.TTL {
		tags[TagGuardTTL] = spec.GuardTTL.String()
	}
	for k, v := range spec.Tags {
		tags[k] = v
	}
	if _, ok := tags["Name"]; !ok {
		tags["Name"] = "spotter " + spec.TokenID
	}
	return fleetCall{api: l.api, opt: l.opt, region: l.region, tmpl: l.tmpl, pools: l.pools, tags: tags, prices: prices,
		onDemand: l.od.price}
}

// spotRequest is the launch's spot CreateFleet call.
func (l *launch) spotRequest() fleetRequest {
	return fleetRequest{clientToken: l.spec.ClientToken, count: l.spec.Count, maxPrice: l.spec.MaxPrice, maxTotal: l.spec.MaxTotalPrice}
}

// dryRun asks EC2 whether the launch would be allowed, and prices it at
// the cheapest pool.
func (l *launch) dryRun(ctx context.Context, f *fleetCall, res LaunchResult) (LaunchResult, error) {
	req := l.spotRequest()
	req.dryRun = true
	_, err := f.create(ctx, req)
	if awsCode(err) != "DryRunOperation" {
		return res, mapErr(err, "EC2 CreateFleet (dry run) in "+l.region)
	}
	res.HourlyCost = l.pools[0].Price.Times(l.spec.Count)
	l.log.LogAttrs(ctx, slog.LevelInfo, "dry-run launch", slog.Int("count", l.spec.Count), slog.Int("pools", len(l.pools)))
	return res, nil
}
