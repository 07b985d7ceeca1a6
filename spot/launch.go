package spot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/money"
)

// LaunchSpec is one launch, already inside the token's policy.
type LaunchSpec struct {
	// Credentials for this call, from Session.
	Credentials aws.CredentialsProvider
	Region      string
	TokenID     string
	// RequestID is the HTTP request id, tagged for audit correlation.
	RequestID string
	// ClientToken is ClientToken(tokenID, idempotency key): it makes the
	// launch idempotent across retries and replicas.
	ClientToken string

	InstanceTypes     []string
	Subnets           []string // subnet ids; or
	AvailabilityZones []string // zones in the default VPC; neither = every zone offering the types
	Count             int
	MaxPrice          float64 // per instance-hour, 0 = no cap (EC2 then caps at on-demand)
	// MaxPriceAsked: the caller named MaxPrice. Only such a price is held
	// to MaxPriceOnDemandFactor × the asked types' on-demand price; a
	// policy's ceiling covers all of its types, cheap ones included.
	MaxPriceAsked  bool
	MaxTotalPrice  float64 // fleet $/hour, 0 = no cap
	AMI            string
	KeyName        string
	SecurityGroups []string // ids (sg-…) or default-VPC names
	UserData       []byte   // the operator's, raw
	TTL            time.Duration
	// GuardTTL arms the instance's own TTL guard (in its user data) this
	// long after first boot, when longer than TTL: a policy that allows
	// extend sets its maxTTL, since an extension moves only the tag the
	// reaper reads and cannot reach into the instance. 0: TTL.
	GuardTTL time.Duration
	Tags     map[string]string

	DryRun           bool
	OnDemandFallback bool
	Wait             bool // wait (bounded) until running and fill IPs

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
// Errors: invalid_request (naming the field), capacity_unavailable (naming
// the pools tried), aws_auth_failed, aws_throttled, aws_unavailable.
func (c *Client) Launch(ctx context.Context, spec LaunchSpec) (LaunchResult, error) {
	region, api, err := c.ec2For(spec.Region)
	if err != nil {
		return LaunchResult{}, err
	}
	if err := spec.validate(); err != nil {
		return LaunchResult{}, err
	}
	now := c.now().UTC()
	userData, err := buildUserData(spec.UserData, spec.guardTTL())
	if err != nil {
		return LaunchResult{}, err
	}
	opt := c.ec2Opts(spec.Credentials)
	// Only pools the AMI can boot in are offered to EC2.
	bootable, archWarnings, err := c.bootable(ctx, api, opt, region, spec.AMI, dedupe(spec.InstanceTypes))
	if err != nil {
		return LaunchResult{}, err
	}
	spec.InstanceTypes = bootable
	// On-demand prices (to bound maxPrice, of live instances for the spend
	// cap, of fallback pools) come from the Price List API with the
	// token's credentials.
	od := c.odPrices(ctx, spec.Credentials, region)
	if err := c.checkMaxPrice(od, spec.InstanceTypes, spec.MaxPrice, spec.MaxPriceAsked); err != nil {
		return LaunchResult{}, err
	}
	tmpl := newTemplate(spec, userData)
	log := c.log.With(slog.String("token", spec.TokenID), slog.String("region", region), slog.String("request", spec.RequestID))

	// The token's live instances (for Admit and a retry) and the pool
	// prices are independent: look them up side by side, so a launch costs
	// one AWS round trip less in latency. The price call is cancelled if
	// the launch turns out to be a replay. The goroutine gets its own copy
	// of spec, which Admit's price cap changes below.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type priced struct {
		pools    []Pool
		prices   map[poolKey]float64
		warnings []string
		err      error
	}
	pc := make(chan priced, 1)
	go func(spec LaunchSpec) {
		var p priced
		// A panic here would end the process: it becomes this launch's error.
		defer func() { pc <- p }()
		defer safe.Recover(pctx, c.log, "spot price lookup", &p.err, "region", region, "token", spec.TokenID)
		p.pools, p.prices, p.warnings, p.err = c.pools(pctx, api, opt, region, spec, now)
	}(spec)
	var live []Instance
	if spec.Admit != nil {
		if live, err = c.admitList(ctx, api, opt, od, spec); err != nil {
			return LaunchResult{}, err
		}
	}
	if !spec.DryRun {
		if res, ok, err := c.replayBeforeLaunch(ctx, api, opt, spec, tmpl, live); err != nil || ok {
			return res, err
		}
	}
	if spec.Admit != nil {
		var others []Instance
		for _, in := range live {
			// A retry must find its own instances, not count them against
			// the caps and be refused.
			if in.Tag(TagClientToken) != spec.ClientToken {
				others = append(others, in)
			}
		}
		left, err := spec.Admit(others)
		if err != nil {
			return LaunchResult{}, err
		}
		if left > 0 {
			spec.MaxTotalPrice = left
		}
	}
	p := <-pc
	pools, prices, warnings, err := p.pools, p.prices, p.warnings, p.err
	if err != nil {
		return LaunchResult{}, err
	}
	res := LaunchResult{Pools: pools, Warnings: append(archWarnings, warnings...), Template: tmpl.name, DryRun: spec.DryRun}
	if spec.MaxTotalPrice > 0 && spec.MaxTotalPrice < pools[0].Price.Dollars() && !spec.OnDemandFallback {
		where := fmt.Sprintf("(%s/%s at $%s/h)", pools[0].Type, cmpOr(pools[0].AZ, pools[0].Subnet), pools[0].Price)
		if spec.MaxTotalPriceRule != "" {
			return res, apperr.New(apperr.PolicyDenied, "rule %s: the $%s/h left does not pay for one instance in the cheapest pool %s",
				spec.MaxTotalPriceRule, formatPrice(spec.MaxTotalPrice), where)
		}
		return res, apperr.New(apperr.PriceTooLow, "maxTotalPrice $%s/h does not pay for one instance in the cheapest pool %s; raise it",
			formatPrice(spec.MaxTotalPrice), where)
	}
	if err := c.ensureTemplate(ctx, api, opt, region, tmpl); err != nil {
		return res, err
	}

	tags := map[string]string{
		TagToken:       spec.TokenID,
		TagRequest:     cmpOr(spec.RequestID, spec.ClientToken),
		TagClientToken: spec.ClientToken,
		TagExpiresAt:   now.Add(spec.TTL).Truncate(time.Second).Format(time.RFC3339),
		TagTemplate:    tmpl.name,
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
	f := fleetCall{api: api, opt: opt, region: region, tmpl: tmpl, pools: pools, tags: tags, prices: prices,
		onDemand: od.price}

	if spec.DryRun {
		err := f.create(ctx, spec.ClientToken, spec.Count, false, spec.MaxPrice, spec.MaxTotalPrice, true, nil)
		if awsCode(err) != "DryRunOperation" {
			return res, mapErr(err, "EC2 CreateFleet (dry run) in "+region)
		}
		res.HourlyCost = pools[0].Price.Times(spec.Count)
		log.LogAttrs(ctx, slog.LevelInfo, "dry-run launch", slog.Int("count", spec.Count), slog.Int("pools", len(pools)))
		return res, nil
	}

	out, err := c.fleet(ctx, &f, spec.ClientToken, spec.Count, false, spec.MaxPrice, spec.MaxTotalPrice)
	if awsCode(err) == "IdempotentParameterMismatch" {
		// Another replica (or an earlier try) holds this ClientToken with
		// other tags (its request id, its expiry): that launch is ours.
		return c.replayAfterMismatch(ctx, api, opt, spec, tmpl, err)
	}
	if err != nil {
		return res, err
	}
	res.Instances = out.instances
	res.Warnings = append(res.Warnings, out.warnings...)

	missing := spec.Count - len(res.Instances)
	if missing > 0 && spec.OnDemandFallback && out.capacityShort {
		od, err := c.onDemandFallback(ctx, &f, spec, missing, res.Instances)
		if err != nil && len(res.Instances) == 0 {
			return res, err
		}
		if err != nil {
			res.Warnings = append(res.Warnings, "on-demand fallback failed: "+apperr.Details(err))
		}
		res.Instances = append(res.Instances, od.instances...)
		res.Warnings = append(res.Warnings, od.warnings...)
		missing = spec.Count - len(res.Instances)
	}
	if spec.Started != nil {
		spec.Started(res.Instances)
	}
	if len(res.Instances) == 0 {
		if out.firstErr != nil && !out.capacityShort {
			return res, out.firstErr
		}
		return res, apperr.New(apperr.CapacityUnavailable, "no capacity in any pool tried (%s)%s", poolList(pools), fallbackHint(spec))
	}
	if missing > 0 {
		why := "capacity was short in the pools tried (" + poolList(pools) + ")"
		if spec.MaxTotalPrice > 0 && len(out.warnings) == 0 {
			why = "maxTotalPrice $" + formatPrice(spec.MaxTotalPrice) + "/h capped the fleet"
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("launched %d of %d: %s", len(res.Instances), spec.Count, why))
	}

	// Without Wait the reply is built from CreateFleet's answer alone:
	// the tags rode on that call, so there is nothing to check, and a
	// DescribeInstances here would add a round trip to every launch.
	if spec.Wait {
		if err := c.settle(ctx, api, opt, spec, &res); err != nil {
			return res, err
		}
	}
	for _, in := range res.Instances {
		res.HourlyCost += in.Price
	}
	res.Warnings = append(res.Warnings, od.warnings()...)
	// Debug: the handler's audit event already records every launch at
	// info, with its instances and cost.
	log.LogAttrs(ctx, slog.LevelDebug, "launched", slog.Int("count", len(res.Instances)), slog.Bool("replayed", res.Replayed), slog.String("template", tmpl.name))
	return res, nil
}

var (
	typeRE   = regexp.MustCompile(`^[a-z0-9-]+\.[a-z0-9-]+$`)
	subnetRE = regexp.MustCompile(`^subnet-[0-9a-f]{1,17}$`)
	azRE     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}[a-z](-[a-z0-9-]+)?$`)
	amiRE    = regexp.MustCompile(`^ami-[0-9a-f]{1,17}$`)
)

// validate checks what EC2 would otherwise reject mid-launch, naming the
// field a caller can fix. Programming errors (no credentials, no client
// token) are plain errors: they are spotter's bug, not the caller's.
func (s LaunchSpec) guardTTL() time.Duration { return max(s.TTL, s.GuardTTL) }

func (s LaunchSpec) validate() error {
	switch {
	case s.Credentials == nil:
		return errors.New("spot: LaunchSpec.Credentials is nil")
	case s.TokenID == "":
		return errors.New("spot: LaunchSpec.TokenID is empty")
	case s.ClientToken == "" || len(s.ClientToken) > 64 || !printableASCII(s.ClientToken):
		return errors.New("spot: LaunchSpec.ClientToken must be 1-64 printable ASCII characters; use ClientToken()")
	case len(s.InstanceTypes) == 0:
		return apperr.New(apperr.Invalid, "instanceTypes: name at least one instance type")
	case s.Count < 1:
		return apperr.New(apperr.Invalid, "count: must be at least 1")
	case s.AMI == "":
		return apperr.New(apperr.Invalid, "ami: required (an ami-… id)")
	case !amiRE.MatchString(s.AMI):
		return apperr.New(apperr.Invalid, "ami: %q is not an AMI id (ami-…)", s.AMI)
	case s.TTL <= 0:
		return apperr.New(apperr.Invalid, "ttl: must be positive; every instance has a time to live")
	case s.MaxPrice < 0 || s.MaxTotalPrice < 0:
		return apperr.New(apperr.Invalid, "maxPrice: must not be negative")
	case len(s.Subnets) > 0 && len(s.AvailabilityZones) > 0:
		return apperr.New(apperr.Invalid, "subnets: give subnets or availability zones, not both")
	}
	for _, t := range s.InstanceTypes {
		if !typeRE.MatchString(t) {
			return apperr.New(apperr.Invalid, "instanceTypes: %q is not an instance type name", t)
		}
	}
	for _, n := range s.Subnets {
		if !subnetRE.MatchString(n) {
			return apperr.New(apperr.Invalid, "subnets: %q is not a subnet id", n)
		}
	}
	for _, z := range s.AvailabilityZones {
		if !azRE.MatchString(z) {
			return apperr.New(apperr.Invalid, "availabilityZones: %q is not a zone name", z)
		}
	}
	for _, g := range s.SecurityGroups {
		if strings.TrimSpace(g) == "" || len(g) > 255 {
			return apperr.New(apperr.Invalid, "securityGroups: empty or over-long group")
		}
	}
	if len(s.Tags) > 40 { // EC2 allows 50 per resource; spotter uses up to 6
		return apperr.New(apperr.Invalid, "tags: at most 40")
	}
	for k, v := range s.Tags {
		lk := strings.ToLower(k)
		switch {
		case strings.HasPrefix(lk, tagPrefix), strings.HasPrefix(lk, "aws:"):
			return apperr.New(apperr.Invalid, "tags: %q uses a reserved prefix (spotter: or aws:)", k)
		case k == "" || len(k) > 128 || len(v) > 256:
			return apperr.New(apperr.Invalid, "tags: keys must be 1-128 characters and values at most 256")
		}
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func poolList(pools []Pool) string {
	var b strings.Builder
	for i, p := range pools {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 12 {
			fmt.Fprintf(&b, "and %d more", len(pools)-i)
			break
		}
		b.WriteString(p.Type + "/" + cmpOr(p.AZ, p.Subnet))
	}
	return b.String()
}

func fallbackHint(spec LaunchSpec) string {
	if spec.OnDemandFallback {
		return "; on-demand fallback found none either"
	}
	return "; allow more instance types or zones, or on-demand fallback"
}

// formatPrice writes a $ amount for EC2 and for people: to the micro-dollar
// (EC2 quotes at most six decimals), so float noise from subtracting a
// budget's spend ($0.0016800000000000005) is not sent or shown.
func formatPrice(p float64) string {
	return strconv.FormatFloat(math.Round(p*1e6)/1e6, 'f', -1, 64)
}

// settle describes the new instances until they run (LaunchSpec.Wait): to
// fill state, launch time and IPs, to notice a launch another replica made
// first (its request tag is not ours), and to prove every instance carries
// spotter's tags — one that does not is terminated, never left running
// without a TTL.
func (c *Client) settle(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, res *LaunchResult) error {
	ids := make([]string, len(res.Instances))
	for i, in := range res.Instances {
		ids[i] = in.ID
	}
	// Waiting is bounded in real time, whatever clock TTLs use.
	waitCtx, cancel := context.WithTimeout(ctx, c.cfg.WaitTimeout)
	defer cancel()
	for {
		got, err := describeIDs(ctx, api, opt, ids)
		if err != nil {
			if spec.Wait {
				return mapErr(err, "EC2 DescribeInstances")
			}
			// The launch itself succeeded; details are a nicety.
			res.Warnings = append(res.Warnings, "could not read instance details: "+apperr.Details(mapErr(err, "EC2 DescribeInstances")))
			return nil
		}
		byID := make(map[string]Instance, len(got))
		for _, in := range got {
			byID[in.ID] = in
		}
		var untagged []string
		pending := false
		for i, in := range res.Instances {
			d, ok := byID[in.ID]
			if !ok {
				pending = true
				continue
			}
			if d.tags[TagToken] != spec.TokenID || d.ExpiresAt.IsZero() {
				untagged = append(untagged, in.ID)
			}
			if r := d.tags[TagRequest]; r != "" && r != cmpOr(spec.RequestID, spec.ClientToken) {
				res.Replayed = true
			}
			in.State, in.LaunchTime, in.ExpiresAt = d.State, d.LaunchTime, d.ExpiresAt
			in.PrivateIP, in.PublicIP = d.PrivateIP, d.PublicIP
			if d.AZ != "" {
				in.AZ = d.AZ
			}
			res.Instances[i] = in
			if in.State == "pending" {
				pending = true
			}
		}
		if len(untagged) > 0 {
			_, terr := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: untagged}, opt)
			c.log.LogAttrs(ctx, slog.LevelError, "terminated instances launched without spotter tags", slog.Any("ids", untagged), slog.Any("error", terr))
			return apperr.New(apperr.AWSUnavailable, "EC2 launched instances without spotter's tags; they were terminated (%s)", strings.Join(untagged, ", "))
		}
		if !spec.Wait || !pending {
			return nil
		}
		t := time.NewTimer(c.cfg.PollInterval)
		select {
		case <-waitCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("still pending after %s; ask status later", c.cfg.WaitTimeout))
			return nil
		case <-t.C:
		}
	}
}
