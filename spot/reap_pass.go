package spot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
)

// reapPass is one reaper pass over a region's spotter instances, fed a
// page of DescribeInstances at a time.
type reapPass struct {
	c       *Client
	api     ec2API
	opt     func(*ec2.Options)
	region  string
	now     time.Time
	revoked func(tokenID string) bool
	rep     *ReapReport

	// kill are the instances to end, sent 1,000 to a TerminateInstances
	// call (EC2's most), with their actions.
	kill []Instance
	acts []ReapAction
	// used are the templates live instances use; live counts, per token
	// and pool, the live instances the pass does not end.
	used map[string]bool
	live map[liveKey]int
}

// liveKey is what prices an instance: its pool and lifecycle.
type liveKey struct {
	token, itype, az, lifecycle string
}

func (p *reapPass) page(ctx context.Context, page []Instance) error {
	for _, in := range page {
		tok := in.Tags[TagToken]
		if in.Interrupted {
			p.rep.Actions = append(p.rep.Actions, ReapAction{Action: ActionInterrupted, Reason: ReasonSpotEnded, InstanceID: in.ID, TokenID: tok, At: p.now})
		}
		if !isLive(in.State) {
			continue
		}
		reason := ""
		switch {
		case in.ExpiresAt.IsZero():
			reason = ReasonNoTTL
		case !p.now.Before(in.ExpiresAt):
			reason = ReasonExpired
		case p.revoked != nil && p.revoked(tok):
			reason = ReasonRevoked
		}
		if reason == "" {
			if t := in.Tags[TagTemplate]; t != "" {
				p.used[t] = true
			}
			p.live[liveKey{tok, in.Type, in.AZ, in.Lifecycle}]++
			continue
		}
		p.kill = append(p.kill, in)
		p.acts = append(p.acts, ReapAction{Action: ActionTerminate, Reason: reason, InstanceID: in.ID, TokenID: tok, ExpiresAt: in.ExpiresAt, At: p.now})
		if len(p.kill) == 1000 {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush ends the instances waiting. A failed call is reported and its
// instances stay live: their actions did not happen.
func (p *reapPass) flush(ctx context.Context) error {
	if len(p.kill) == 0 {
		return nil
	}
	ids := make([]string, len(p.kill))
	for i, in := range p.kill {
		ids[i] = in.ID
	}
	_, err := p.api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}, p.opt)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		p.rep.Errors = append(p.rep.Errors, apperr.Details(mapErr(err, "EC2 TerminateInstances in "+p.region)))
		for _, in := range p.kill {
			p.live[liveKey{in.Tags[TagToken], in.Type, in.AZ, in.Lifecycle}]++
			if t := in.Tags[TagTemplate]; t != "" {
				p.used[t] = true
			}
		}
	default:
		p.rep.Actions = append(p.rep.Actions, p.acts...)
		for _, a := range p.acts {
			p.c.log.LogAttrs(ctx, slog.LevelInfo, "reaped instance", slog.String("instance", a.InstanceID), slog.String("token", a.TokenID), slog.String("reason", a.Reason), slog.String("region", p.region))
		}
	}
	p.kill, p.acts = p.kill[:0], p.acts[:0]
	return nil
}

// usage sums, per token, the live instances the pass did not end, priced
// now (best effort: an instance whose price is unknown counts at $0). Each
// pool is priced once, whatever it runs.
func (p *reapPass) usage(ctx context.Context, od *odPrices) map[string]Usage {
	if len(p.live) == 0 {
		return nil
	}
	keys := make([]liveKey, 0, len(p.live))
	ins := make([]Instance, 0, len(p.live))
	for k := range p.live {
		keys = append(keys, k)
		ins = append(ins, Instance{Type: k.itype, AZ: k.az, Lifecycle: k.lifecycle})
	}
	p.c.priceInstances(ctx, p.api, p.opt, od, ins)
	for _, w := range od.warnings() {
		// Debug: every pass would repeat it; the lookup logged the cause.
		p.c.log.DebugContext(ctx, "reaper usage: "+w)
	}
	type sum struct {
		running int
		cost    money.USD // summed exactly, then in dollars
	}
	sums := map[string]sum{}
	for i, k := range keys {
		t := sums[k.token]
		t.running += p.live[k]
		t.cost += ins[i].Price.Times(p.live[k])
		sums[k.token] = t
	}
	u := make(map[string]Usage, len(sums))
	for tok, t := range sums {
		u[tok] = Usage{Running: t.running, HourlySpend: t.cost.Dollars()}
	}
	return u
}
