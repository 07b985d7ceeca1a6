package spot

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// Reap actions and reasons, for the audit log.
const (
	ActionTerminate      = "terminate"
	ActionDeleteTemplate = "delete-template"
	ActionInterrupted    = "interrupted" // seen, not acted on
	ActionCancelRequest  = "cancel-spot-request"

	ReasonExpired   = "expired"
	ReasonRevoked   = "revoked"
	ReasonNoTTL     = "no-ttl" // spotter-tagged but without a readable expiry
	ReasonUnused    = "unused"
	ReasonSpotEnded = "spot-interruption"
	// ReasonOpenRequest: spotter's instant fleets never leave a spot request
	// open, so an open one tagged with a token could only start an instance
	// later, outside any launch and its checks.
	ReasonOpenRequest = "open-spot-request"
)

// ReapAction is one thing the reaper did or saw.
type ReapAction struct {
	Action     string    `json:"action"`
	Reason     string    `json:"reason"`
	InstanceID string    `json:"instanceId,omitempty"`
	Template   string    `json:"template,omitempty"`
	Request    string    `json:"spotRequest,omitempty"`
	TokenID    string    `json:"token,omitempty"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
	At         time.Time `json:"at"`
}

// ReapReport is one pass of the reaper over one account and region.
type ReapReport struct {
	Actions []ReapAction `json:"actions"`
	// Errors are per-item failures; the pass went on past them.
	Errors []string `json:"errors,omitempty"`
	// Usage is what each token still runs here after the pass, for the
	// per-token gauges; tokens running nothing are absent.
	Usage map[string]Usage `json:"usage,omitempty"`
}

// Usage is what one token runs: live instances and their $/h now.
type Usage = api.Usage

// Reap terminates the spotter instances (of every token) that the given
// credentials can see in the region and whose spotter:expires-at has passed,
// whose token is revoked, or which carry no readable expiry; it deletes
// spotter launch templates that no live instance uses and that are older
// than Config.TemplateGrace; and it reports spot interruptions it sees.
//
// Several replicas may reap at once: TerminateInstances is idempotent and a
// template someone else deleted is not an error. Each action is returned
// for the audit log. revoked may be nil.
func (c *Client) Reap(ctx context.Context, creds aws.CredentialsProvider, region string, now time.Time, revoked func(tokenID string) bool) (ReapReport, error) {
	region, api, err := c.ec2For(region)
	if err != nil {
		return ReapReport{}, err
	}
	opt := c.ec2Opts(creds)
	rep := ReapReport{Actions: []ReapAction{}}
	// spotter:template also finds instances started from a spotter template
	// without spotter's tags: they have no TTL and are ended as such.
	all, err := describe(ctx, api, opt, filter("tag-key", TagToken, TagTemplate))
	if err != nil {
		return rep, mapErr(err, "EC2 DescribeInstances in "+region)
	}

	var kill []string
	var acts []ReapAction
	used := map[string]bool{}
	for _, in := range all {
		tok := in.Tags[TagToken]
		if in.Interrupted {
			rep.Actions = append(rep.Actions, ReapAction{Action: ActionInterrupted, Reason: ReasonSpotEnded, InstanceID: in.ID, TokenID: tok, At: now})
		}
		if !isLive(in.State) {
			continue
		}
		reason := ""
		switch {
		case in.ExpiresAt.IsZero():
			reason = ReasonNoTTL
		case !now.Before(in.ExpiresAt):
			reason = ReasonExpired
		case revoked != nil && revoked(tok):
			reason = ReasonRevoked
		}
		if reason == "" {
			if t := in.Tags[TagTemplate]; t != "" {
				used[t] = true
			}
			continue
		}
		kill = append(kill, in.ID)
		acts = append(acts, ReapAction{Action: ActionTerminate, Reason: reason, InstanceID: in.ID, TokenID: tok, ExpiresAt: in.ExpiresAt, At: now})
	}
	for chunk := range chunks(kill, 1000) {
		if _, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: chunk}, opt); err != nil {
			if errors.Is(err, context.Canceled) {
				return rep, err
			}
			rep.Errors = append(rep.Errors, apperr.Details(mapErr(err, "EC2 TerminateInstances in "+region)))
			// Drop the actions of this chunk: they did not happen.
			acts = dropIDs(acts, chunk)
		}
	}
	rep.Actions = append(rep.Actions, acts...)
	rep.Usage = c.usage(ctx, api, opt, c.odPrices(ctx, creds, region), all, acts)
	for _, a := range acts {
		c.log.LogAttrs(ctx, slog.LevelInfo, "reaped instance", slog.String("instance", a.InstanceID), slog.String("token", a.TokenID), slog.String("reason", a.Reason), slog.String("region", region))
	}

	if err := c.reapTemplates(ctx, api, opt, region, now, used, &rep); err != nil {
		return rep, err
	}
	if err := c.reapSpotRequests(ctx, api, opt, region, now, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// reapSpotRequests cancels the open spot requests that carry a token's tag
// (ReasonOpenRequest says why). Credentials without the permission only
// add an error to the report.
func (c *Client) reapSpotRequests(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, now time.Time, rep *ReapReport) error {
	owner := map[string]string{}
	var open []string
	p := ec2.NewDescribeSpotInstanceRequestsPaginator(api, &ec2.DescribeSpotInstanceRequestsInput{
		Filters: []types.Filter{filter("tag-key", TagToken), filter("state", "open")},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			rep.Errors = append(rep.Errors, apperr.Details(mapErr(err, "EC2 DescribeSpotInstanceRequests in "+region)))
			return nil
		}
		for _, r := range page.SpotInstanceRequests {
			id := aws.ToString(r.SpotInstanceRequestId)
			open = append(open, id)
			for _, t := range r.Tags {
				if aws.ToString(t.Key) == TagToken {
					owner[id] = aws.ToString(t.Value)
				}
			}
		}
	}
	for chunk := range chunks(open, 100) {
		out, err := api.CancelSpotInstanceRequests(ctx, &ec2.CancelSpotInstanceRequestsInput{SpotInstanceRequestIds: chunk}, opt)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			rep.Errors = append(rep.Errors, apperr.Details(mapErr(err, "EC2 CancelSpotInstanceRequests in "+region)))
			continue
		}
		for _, r := range out.CancelledSpotInstanceRequests {
			id := aws.ToString(r.SpotInstanceRequestId)
			rep.Actions = append(rep.Actions, ReapAction{Action: ActionCancelRequest, Reason: ReasonOpenRequest, Request: id, TokenID: owner[id], At: now})
			c.log.LogAttrs(ctx, slog.LevelInfo, "cancelled open spot request", slog.String("request", id), slog.String("token", owner[id]), slog.String("region", region))
		}
	}
	return nil
}

// usage sums, per token, the live instances the pass did not end, priced
// now (best effort: an instance whose price is unknown counts at $0).
func (c *Client) usage(ctx context.Context, api ec2API, opt func(*ec2.Options), od *odPrices, all []Instance, ended []ReapAction) map[string]Usage {
	gone := make(map[string]bool, len(ended))
	for _, a := range ended {
		gone[a.InstanceID] = true
	}
	var live []Instance
	for _, in := range all {
		if isLive(in.State) && !gone[in.ID] {
			live = append(live, in)
		}
	}
	if len(live) == 0 {
		return nil
	}
	c.priceInstances(ctx, api, opt, od, live)
	for _, w := range od.warnings() {
		// Debug: every pass would repeat it; the lookup logged the cause.
		c.log.DebugContext(ctx, "reaper usage: "+w)
	}
	type sum struct {
		running int
		cost    money.USD // summed exactly, then in dollars
	}
	sums := map[string]sum{}
	for _, in := range live {
		tok := in.Tags[TagToken]
		t := sums[tok]
		t.running++
		t.cost += in.Price
		sums[tok] = t
	}
	u := make(map[string]Usage, len(sums))
	for tok, t := range sums {
		u[tok] = Usage{Running: t.running, HourlySpend: t.cost.Dollars()}
	}
	return u
}

func dropIDs(acts []ReapAction, ids []string) []ReapAction {
	out := acts[:0]
	for _, a := range acts {
		if !contains(ids, a.InstanceID) {
			out = append(out, a)
		}
	}
	return out
}

// reapTemplates deletes unused spotter templates past the grace period.
// The grace keeps a template a launch on another replica has just created
// (and not yet used) alive; if one is deleted anyway, that launch creates
// it again (Client.fleet).
func (c *Client) reapTemplates(ctx context.Context, api ec2API, opt func(*ec2.Options), region string, now time.Time, used map[string]bool, rep *ReapReport) error {
	p := ec2.NewDescribeLaunchTemplatesPaginator(api, &ec2.DescribeLaunchTemplatesInput{
		Filters: []types.Filter{filter("tag-key", TagTemplate)},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, opt)
		if err != nil {
			return mapErr(err, "EC2 DescribeLaunchTemplates in "+region)
		}
		for _, t := range page.LaunchTemplates {
			name := aws.ToString(t.LaunchTemplateName)
			if !strings.HasPrefix(name, "spotter-") || used[name] || now.Sub(aws.ToTime(t.CreateTime)) < c.cfg.TemplateGrace {
				continue
			}
			var tok string
			for _, tg := range t.Tags {
				if aws.ToString(tg.Key) == TagToken {
					tok = aws.ToString(tg.Value)
				}
			}
			_, err := api.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: t.LaunchTemplateId}, opt)
			c.rememberTemplate(region, name, false)
			switch code := awsCode(err); {
			case err == nil:
				rep.Actions = append(rep.Actions, ReapAction{Action: ActionDeleteTemplate, Reason: ReasonUnused, Template: name, TokenID: tok, At: now})
				c.log.LogAttrs(ctx, slog.LevelInfo, "deleted launch template", slog.String("template", name), slog.String("region", region))
			case strings.HasSuffix(code, "NotFound") || strings.HasSuffix(code, "NotFoundException"):
				// Another replica got there first.
			case errors.Is(err, context.Canceled):
				return err
			default:
				rep.Errors = append(rep.Errors, apperr.Details(mapErr(err, "EC2 DeleteLaunchTemplate "+name)))
			}
		}
	}
	return nil
}
