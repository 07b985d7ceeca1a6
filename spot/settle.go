package spot

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/apperr"
)

// fallback launches on-demand what spot could not, when spot capacity was
// short and the spec allows it. Its failure fails the launch only when
// spot started nothing; otherwise it is a warning.
func (l *launch) fallback(ctx context.Context, f *fleetCall, spot fleetResult, res *LaunchResult) error {
	missing := l.spec.Count - len(res.Instances)
	if missing <= 0 || !l.spec.OnDemandFallback || !spot.capacityShort {
		return nil
	}
	od, err := l.onDemandFallback(ctx, f, missing, res.Instances)
	if err != nil && len(res.Instances) == 0 {
		return err
	}
	if err != nil {
		res.Warnings = append(res.Warnings, "on-demand fallback failed: "+apperr.Details(err))
	}
	res.Instances = append(res.Instances, od.instances...)
	res.Warnings = append(res.Warnings, od.warnings...)
	return nil
}

// settle ends a launch that reached EC2: it tells spec.Started what
// started, refuses a launch that started nothing, says what fell short,
// with Wait waits for the instances to run, and totals the cost.
func (l *launch) settle(ctx context.Context, spot fleetResult, res LaunchResult) (LaunchResult, error) {
	spec := l.spec
	if spec.Started != nil {
		spec.Started(res.Instances)
	}
	if len(res.Instances) == 0 {
		if spot.firstErr != nil && !spot.capacityShort {
			return res, spot.firstErr
		}
		return res, apperr.New(apperr.CapacityUnavailable, "no capacity in any pool tried (%s)%s", poolList(l.pools), fallbackHint(spec))
	}
	if missing := spec.Count - len(res.Instances); missing > 0 {
		why := "capacity was short in the pools tried (" + poolList(l.pools) + ")"
		if spec.MaxTotalPrice > 0 && len(spot.warnings) == 0 {
			why = "maxTotalPrice $" + formatPrice(spec.MaxTotalPrice) + "/h capped the fleet"
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("launched %d of %d: %s", len(res.Instances), spec.Count, why))
	}
	// Without Wait the reply is built from CreateFleet's answer alone:
	// the tags rode on that call, so there is nothing to check, and a
	// DescribeInstances here would add a round trip to every launch.
	if spec.Wait {
		if err := l.c.awaitRunning(ctx, l.api, l.opt, spec, &res); err != nil {
			return res, err
		}
	}
	for _, in := range res.Instances {
		res.HourlyCost += in.Price
	}
	res.Warnings = append(res.Warnings, l.od.warnings()...)
	// Debug: the handler's audit event already records every launch at
	// info, with its instances and cost.
	l.log.LogAttrs(ctx, slog.LevelDebug, "launched", slog.Int("count", len(res.Instances)), slog.Bool("replayed", res.Replayed), slog.String("template", l.tmpl.name))
	return res, nil
}

// awaitRunning describes the new instances until they run (LaunchSpec.Wait):
// to fill state, launch time and IPs, to notice a launch another replica
// made first (its request tag is not ours), and to prove every instance
// carries spotter's tags — one that does not is terminated, never left
// running without a TTL.
func (c *Client) awaitRunning(ctx context.Context, api ec2API, opt func(*ec2.Options), spec LaunchSpec, res *LaunchResult) error {
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
		pending, untagged := merge(spec, res, got)
		if len(untagged) > 0 {
			_, terr := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: untagged}, opt)
			c.log.LogAttrs(ctx, slog.LevelError, "terminated instances launched without spotter tags", slog.Any("ids", untagged), slog.Any("error", terr))
			return apperr.New(apperr.AWSUnavailable, "EC2 launched instances without spotter's tags; they were terminated (%s)", strings.Join(untagged, ", "))
		}
		if !spec.Wait || !pending {
			return nil
		}
		if done, err := c.pause(ctx, waitCtx, res); done {
			return err
		}
	}
}

// merge copies what DescribeInstances says of the launch's instances into
// res. pending: some are not listed yet or not running; untagged: those
// that lack spotter's token tag or expiry.
func merge(spec LaunchSpec, res *LaunchResult, got []Instance) (pending bool, untagged []string) {
	byID := make(map[string]Instance, len(got))
	for _, in := range got {
		byID[in.ID] = in
	}
	for i, in := range res.Instances {
		d, ok := byID[in.ID]
		if !ok {
			pending = true
			continue
		}
		if d.Tags[TagToken] != spec.TokenID || d.ExpiresAt.IsZero() {
			untagged = append(untagged, in.ID)
		}
		if r := d.Tags[TagRequest]; r != "" && r != cmpOr(spec.RequestID, spec.ClientToken) {
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
	return pending, untagged
}

// pause waits one poll interval. done: the wait is over, because ctx
// ended (err) or waitCtx did (a warning in res, no error).
func (c *Client) pause(ctx, waitCtx context.Context, res *LaunchResult) (done bool, err error) {
	t := time.NewTimer(c.cfg.PollInterval)
	select {
	case <-waitCtx.Done():
		t.Stop()
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("still pending after %s; ask status later", c.cfg.WaitTimeout))
		return true, nil
	case <-t.C:
		return false, nil
	}
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

// onDemandFallback launches the count spot could not fill on-demand, in
// the same pools, within MaxPrice (only types whose on-demand price is
// known to be under it) and what MaxTotalPrice leaves after the spot part.
// Its ClientToken is derived from the launch's, so it is idempotent too.
func (l *launch) onDemandFallback(ctx context.Context, f *fleetCall, missing int, have []Instance) (fleetResult, error) {
	spec := l.spec
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
	res, err := l.c.fleet(ctx, &g, fleetRequest{clientToken: ClientToken(spec.ClientToken, "on-demand"), count: missing, onDemand: true, maxTotal: maxTotal})
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
