package spot

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// RefusedID is an instance a terminate did not touch, and why.
type RefusedID struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Reasons a terminate refuses an id.
const (
	RefusedMalformed = "not an instance id"
	RefusedNotFound  = "no such instance in this region"
	RefusedForeign   = "not launched by this token"
	// RefusedNotMine is status's reason: it lists by the token's tag, so it
	// cannot tell (and need not say) whether the id exists at all.
	RefusedNotMine = "not an instance of this token in this region"
)

// TerminateResult lists what a terminate ended and what it refused.
type TerminateResult struct {
	Terminated []string    `json:"terminated"`
	Refused    []RefusedID `json:"refused,omitempty"`
	// CancelledRequests are open legacy spot requests of the token.
	CancelledRequests []string `json:"cancelledRequests,omitempty"`
}

// Terminate ends the given instances (or, with all, every live instance)
// of the token. Only instances tagged spotter:token=<tokenID> are touched;
// every other id is refused by name, never silently dropped. Instances
// already terminated count as terminated: terminate is idempotent. Open
// legacy spot requests of the token are cancelled too, unless every
// instance ended came from a spotter launch: their one-time requests close
// by themselves, and a stray open request is the reaper's (and cancel's).
func (c *Client) Terminate(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, all bool) (TerminateResult, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return TerminateResult{}, err
	}
	if !all && len(ids) == 0 {
		return TerminateResult{}, apperr.New(apperr.Invalid, "instanceIds: name the instances to terminate, or set all")
	}
	opt := c.ec2Opts(creds)
	var res TerminateResult
	var kill []string
	// outside: an instance not started by a spotter launch. Spotter launches
	// only through instant CreateFleet, whose spot requests are one-time and
	// close when their instance ends, so only such an instance (or none at
	// all) gives reason to look for open requests that would start more.
	outside := len(ids) > 0
	if all {
		mine, err := describe(ctx, api, opt, filter("tag:"+TagToken, tokenID), filter("instance-state-name", liveStates...))
		if err != nil {
			return res, mapErr(err, "EC2 DescribeInstances in "+region)
		}
		for _, in := range mine {
			kill = append(kill, in.ID)
			outside = outside || in.Tags[TagTemplate] == ""
		}
	}
	if kill, err = c.named(ctx, api, opt, tokenID, ids, kill, &res); err != nil {
		return res, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	// Requests first, as EC2 advises: capacity the terminate frees could
	// otherwise fulfil an open one in between. A failed cancel still lets
	// the terminate run; its error comes after.
	var cancelErr error
	if outside || len(kill) == 0 {
		res.CancelledRequests, cancelErr = c.cancelOpen(ctx, api, opt, tokenID)
	}
	for chunk := range chunks(kill, 1000) {
		out, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: chunk}, opt)
		if err != nil {
			return res, mapErr(err, "EC2 TerminateInstances in "+region)
		}
		for _, s := range out.TerminatingInstances {
			res.Terminated = append(res.Terminated, aws.ToString(s.InstanceId))
		}
	}
	if cancelErr != nil {
		return res, mapErr(cancelErr, "EC2 CancelSpotInstanceRequests in "+region)
	}
	c.log.InfoContext(ctx, "terminated", "token", tokenID, "region", region, "ids", res.Terminated, "refused", len(res.Refused))
	return res, nil
}

// named sorts the ids a terminate names: malformed, unknown or another
// token's are refused, those already ended count as terminated, and the
// token's live ones join kill, which it returns.
func (c *Client) named(ctx context.Context, api ec2API, opt func(*ec2.Options), tokenID string, ids, kill []string, res *TerminateResult) ([]string, error) {
	var valid []string
	for _, id := range dedupe(ids) {
		if instanceIDRE.MatchString(id) {
			valid = append(valid, id)
		} else {
			res.Refused = append(res.Refused, RefusedID{ID: truncate(id, 40), Reason: RefusedMalformed})
		}
	}
	if len(valid) == 0 {
		return kill, nil
	}
	got, err := describeIDs(ctx, api, opt, valid)
	if err != nil {
		return kill, err
	}
	byID := map[string]Instance{}
	for _, in := range got {
		byID[in.ID] = in
	}
	for _, id := range valid {
		in, ok := byID[id]
		switch {
		case !ok:
			res.Refused = append(res.Refused, RefusedID{ID: id, Reason: RefusedNotFound})
		case in.Tags[TagToken] != tokenID:
			res.Refused = append(res.Refused, RefusedID{ID: id, Reason: RefusedForeign})
		case !isLive(in.State):
			res.Terminated = append(res.Terminated, id)
		case !slices.Contains(kill, id):
			kill = append(kill, id)
		}
	}
	return kill, nil
}

// CancelResult lists the cancelled spot requests.
type CancelResult struct {
	Cancelled []string `json:"cancelled"`
}

// Cancel cancels the token's open legacy spot requests. Running instances
// are left alone, as EC2 does (terminate ends them).
func (c *Client) Cancel(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string) (CancelResult, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return CancelResult{}, err
	}
	ids, err := c.cancelOpen(ctx, api, c.ec2Opts(creds), tokenID)
	if err != nil {
		return CancelResult{}, mapErr(err, "EC2 CancelSpotInstanceRequests in "+region)
	}
	return CancelResult{Cancelled: ids}, nil
}

func (c *Client) cancelOpen(ctx context.Context, api ec2API, opt func(*ec2.Options), tokenID string) ([]string, error) {
	var open []string
	p := ec2.NewDescribeSpotInstanceRequestsPaginator(api, &ec2.DescribeSpotInstanceRequestsInput{
		Filters: []types.Filter{filter("tag:"+TagToken, tokenID), filter("state", "open")},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return nil, err
		}
		for _, r := range page.SpotInstanceRequests {
			open = append(open, aws.ToString(r.SpotInstanceRequestId))
		}
	}
	var done []string
	for chunk := range chunks(open, 100) {
		out, err := api.CancelSpotInstanceRequests(ctx, &ec2.CancelSpotInstanceRequestsInput{SpotInstanceRequestIds: chunk}, opt)
		if err != nil {
			return done, err
		}
		for _, r := range out.CancelledSpotInstanceRequests {
			done = append(done, aws.ToString(r.SpotInstanceRequestId))
		}
	}
	return done, nil
}

// StatusResult is a token's instances in a region.
type StatusResult struct {
	Instances []Instance `json:"instances"`
	// Interrupted names the instances a spot interruption ended or is about
	// to end.
	Interrupted []string `json:"interrupted,omitempty"`
	// HourlyCost is what the live instances cost per hour now.
	HourlyCost money.USD `json:"hourlyCost"`
	// CostSoFar is the estimated cost of every instance listed, ended ones
	// included: the sum of theirs.
	CostSoFar money.USD `json:"costSoFar"`
	Warnings  []string  `json:"warnings,omitempty"`
	// Refused lists the asked ids that are not the token's instances.
	Refused []RefusedID `json:"refused,omitempty"`
	// NextCursor, for the next page, is "" on the last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// Status page sizes: EC2's DescribeInstances pages hold 5 to 1,000
// instances, and a status page is one EC2 page, so a page costs one
// describe however many instances the token has.
const (
	StatusMinPage     = 5
	StatusDefaultPage = 100
	StatusMaxPage     = 1000
)

// StatusPage picks one page of a status: Limit instances at most from
// Cursor (a previous reply's NextCursor). A zero Limit lists them all.
type StatusPage struct {
	Limit  int
	Cursor string
}

// Status lists the token's instances (live and recently ended) with state,
// TTL left, price now and an estimate of the cost so far (hours run times
// today's price: EC2 bills the price of each hour, which it does not
// expose per instance). With ids, only those are listed; an id that is not
// one of the token's instances is listed in Refused, never silently dropped.
func (c *Client) Status(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string) (StatusResult, error) {
	return c.StatusPaged(ctx, creds, region, tokenID, ids, StatusPage{})
}

// StatusPaged is Status one page at a time: with page.Limit set (and no
// ids), one DescribeInstances page of that many from page.Cursor, its
// sums (hourlyCost, costSoFar) that page's.
func (c *Client) StatusPaged(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string, page StatusPage) (StatusResult, error) {
	if page.Limit != 0 && (len(ids) > 0 || page.Limit < StatusMinPage || page.Limit > StatusMaxPage) {
		return StatusResult{}, apperr.New(apperr.Invalid, "limit: %d; send %d to %d, and no instanceIds with it", page.Limit, StatusMinPage, StatusMaxPage)
	}
	region, api, err := c.ec2For(region)
	if err != nil {
		return StatusResult{}, err
	}
	opt := c.ec2Opts(creds)
	filters := []types.Filter{filter("tag:"+TagToken, tokenID)}
	var refused []RefusedID
	if len(ids) > 0 {
		var valid []string
		for _, id := range dedupe(ids) {
			if instanceIDRE.MatchString(id) {
				valid = append(valid, id)
			} else {
				refused = append(refused, RefusedID{ID: truncate(id, 40), Reason: RefusedMalformed})
			}
		}
		if len(valid) == 0 {
			return StatusResult{Instances: []Instance{}, Refused: refused}, nil
		}
		filters = append(filters, filter("instance-id", valid...))
		ids = valid
	}
	var ins []Instance
	var next string
	if page.Limit > 0 {
		ins, next, err = describeOnePage(ctx, api, opt, page, filters)
	} else {
		ins, err = describe(ctx, api, opt, filters...)
	}
	if err != nil {
		return StatusResult{}, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	for _, id := range ids {
		if !slices.ContainsFunc(ins, func(in Instance) bool { return in.ID == id }) {
			refused = append(refused, RefusedID{ID: id, Reason: RefusedNotMine})
		}
	}
	res := StatusResult{Instances: ins, Refused: refused, NextCursor: next}
	if len(ins) == 0 {
		res.Instances = []Instance{}
		return res, nil
	}
	now := c.now().UTC()
	od := c.odPrices(ctx, creds, region)
	c.priceInstances(ctx, api, opt, od, res.Instances)
	res.Warnings = append(res.Warnings, od.warnings()...)
	notices, err := c.interruptionNotices(ctx, api, opt, ins)
	if err != nil {
		res.Warnings = append(res.Warnings, "could not read spot interruption notices: "+apperr.Details(mapErr(err, "EC2 DescribeSpotInstanceRequests")))
	}
	for i := range res.Instances {
		in := &res.Instances[i]
		if notices[in.ID] {
			in.Interrupted = true
			in.StateReason = "spot interruption notice: EC2 will reclaim this instance within two minutes"
		}
		if in.Interrupted {
			res.Interrupted = append(res.Interrupted, in.ID)
		}
		end := now
		if !isLive(in.State) {
			end = in.EndedAt
		} else {
			res.HourlyCost += in.Price
			if !in.ExpiresAt.IsZero() {
				in.TTLLeftSeconds = int64(max(0, in.ExpiresAt.Sub(now)/time.Second))
			}
		}
		if !in.LaunchTime.IsZero() && end.After(in.LaunchTime) {
			in.CostSoFar = in.Price.ForHours(end.Sub(in.LaunchTime).Hours())
			res.CostSoFar += in.CostSoFar
		}
	}
	slices.SortStableFunc(res.Instances, func(a, b Instance) int { return a.LaunchTime.Compare(b.LaunchTime) })
	return res, nil
}

// interruptionNotices returns the spot instances whose request EC2 has
// marked for termination: the two-minute warning, visible before the
// instance's own state changes.
func (c *Client) interruptionNotices(ctx context.Context, api ec2API, opt func(*ec2.Options), ins []Instance) (map[string]bool, error) {
	var ids []string
	for _, in := range ins {
		if in.Lifecycle == "spot" && isLive(in.State) {
			ids = append(ids, in.ID)
		}
	}
	out := map[string]bool{}
	for chunk := range chunks(ids, 200) {
		page, err := api.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{
			Filters: []types.Filter{filter("instance-id", chunk...), filter("status-code", "marked-for-termination")},
		}, opt)
		if err != nil {
			return out, err
		}
		for _, r := range page.SpotInstanceRequests {
			out[aws.ToString(r.InstanceId)] = true
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// PriceQuote is the current price of one spot pool.
type PriceQuote struct {
	Type     string    `json:"type"`
	AZ       string    `json:"az"`
	VCPU     int32     `json:"vcpu,omitempty"`
	Spot     money.USD `json:"spot"`
	PerVCPU  money.USD `json:"perVcpu,omitempty"`
	OnDemand money.USD `json:"onDemand,omitempty"`
	// SavingPct is the spot discount against on-demand, when known.
	SavingPct float64 `json:"savingPct,omitempty"`
}

// PriceResult lists pools cheapest per vCPU first.
type PriceResult struct {
	Quotes   []PriceQuote `json:"prices"`
	Warnings []string     `json:"warnings,omitempty"`
}

// Price quotes the current spot price of each type in each zone of the
// region, with the on-demand price (Price List API, else the bundled table)
// and the saving, cheapest per vCPU first.
func (c *Client) Price(ctx context.Context, creds aws.CredentialsProvider, region string, itypes []string) (PriceResult, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return PriceResult{}, err
	}
	if len(itypes) == 0 {
		return PriceResult{}, apperr.New(apperr.Invalid, "instanceTypes: name at least one instance type")
	}
	for _, t := range itypes {
		if !typeRE.MatchString(t) {
			return PriceResult{}, apperr.New(apperr.Invalid, "instanceTypes: %q is not an instance type name", t)
		}
	}
	itypes = dedupe(itypes)
	opt := c.ec2Opts(creds)
	vcpus := map[string]int32{}
	in := &ec2.DescribeInstanceTypesInput{}
	for _, t := range itypes {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	p := ec2.NewDescribeInstanceTypesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return PriceResult{}, mapErr(err, "EC2 DescribeInstanceTypes in "+region)
		}
		for _, it := range page.InstanceTypes {
			if it.VCpuInfo != nil {
				vcpus[string(it.InstanceType)] = aws.ToInt32(it.VCpuInfo.DefaultVCpus)
			}
		}
	}
	prices, err := spotPrices(ctx, api, opt, itypes, c.now().UTC())
	if err != nil {
		return PriceResult{}, mapErr(err, "EC2 DescribeSpotPriceHistory in "+region)
	}
	var res PriceResult
	od := c.odPrices(ctx, creds, region)
	od.prefetch(itypes)
	for k, sp := range prices {
		q := PriceQuote{Type: k.typ, AZ: k.az, Spot: money.FromDollars(sp), VCPU: vcpus[k.typ]}
		if q.VCPU > 0 {
			q.PerVCPU = money.FromDollars(sp / float64(q.VCPU))
		}
		if odp, ok := od.price(k.typ); ok && odp > 0 {
			q.OnDemand = money.FromDollars(odp)
			q.SavingPct = math.Round((1-sp/odp)*1000) / 10
		}
		res.Quotes = append(res.Quotes, q)
	}
	slices.SortFunc(res.Quotes, func(a, b PriceQuote) int {
		return cmp.Or(cmp.Compare(a.PerVCPU, b.PerVCPU), cmp.Compare(a.Spot, b.Spot), strings.Compare(a.Type, b.Type), strings.Compare(a.AZ, b.AZ))
	})
	var missing []string
	for _, t := range itypes {
		if !slices.ContainsFunc(res.Quotes, func(q PriceQuote) bool { return q.Type == t }) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no spot price in %s for %s", region, strings.Join(missing, ", ")))
	}
	res.Warnings = append(res.Warnings, od.warnings()...)
	if res.Quotes == nil {
		res.Quotes = []PriceQuote{}
	}
	return res, nil
}
