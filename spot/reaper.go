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
	// without spotter's tags: they have no TTL and are ended as such. The
	// pass goes a page (1,000 instances) at a time and keeps of each only
	// what it acts on and per-pool counts, so its memory does not grow
	// with the region's instances.
	p := &reapPass{c: c, api: api, opt: opt, region: region, now: now, revoked: revoked, rep: &rep,
		used: map[string]bool{}, live: map[liveKey]int{}}
	err = describePages(ctx, api, opt, func(page []Instance) error {
		return p.page(ctx, page)
	}, filter("tag-key", TagToken, TagTemplate))
	if err == nil {
		err = p.flush(ctx)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return rep, err
		}
		return rep, mapErr(err, "EC2 DescribeInstances in "+region)
	}
	rep.Usage = p.usage(ctx, c.odPrices(ctx, creds, region))
	used := p.used

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
