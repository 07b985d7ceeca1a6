package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot"
)

// replyBody is what a task answers with: the task, where it ran, and what
// it did, with every warning a person should read. The code is the
// caller's to set. A list the task always gives is [] when empty.
func (d TaskDeps) replyBody(g guarded, res Result) api.TaskReply {
	out := api.TaskReply{Task: g.req.Task, Region: g.region, TokenID: g.tok.ID, RequestID: g.requestID}
	var warnings []string
	switch {
	case res.Launch != nil:
		r := res.Launch
		out.Instances, out.Replayed, out.DryRun, out.Template = instances(r.Instances), r.Replayed, r.DryRun, r.Template
		var pools []api.SpotPool // null in a replay, which offered EC2 none
		for _, p := range r.Pools {
			pools = append(pools, api.SpotPool{Type: p.Type, AZ: p.AZ, Subnet: p.Subnet, Price: p.Price.Dollars()})
		}
		if r.Pools != nil && pools == nil {
			pools = []api.SpotPool{}
		}
		out.Pools = &pools
		if r.HourlyCost != 0 {
			out.HourlyCost = dollars(r.HourlyCost)
		}
		warnings = r.Warnings
	case res.Terminate != nil:
		r := res.Terminate
		out.Terminated = nonNil(r.Terminated)
		out.Refused, out.CancelledRequests = refusedIDs(r.Refused), r.CancelledRequests
	case res.Status != nil:
		r := res.Status
		out.Instances, out.Interrupted, out.Refused = instances(r.Instances), r.Interrupted, refusedIDs(r.Refused)
		out.HourlyCost, out.CostSoFar = dollars(r.HourlyCost), dollars(r.CostSoFar)
		warnings = r.Warnings
	case res.Price != nil:
		out.Prices = make([]api.PriceQuote, 0, len(res.Price.Quotes))
		for _, q := range res.Price.Quotes {
			out.Prices = append(out.Prices, api.PriceQuote{Type: q.Type, AZ: q.AZ, VCPU: q.VCPU, Spot: q.Spot.Dollars(),
				PerVCPU: q.PerVCPU.Dollars(), OnDemand: q.OnDemand.Dollars(), SavingPct: q.SavingPct})
		}
		warnings = res.Price.Warnings
	case res.Cancel != nil:
		out.Cancelled = nonNil(res.Cancel.Cancelled)
	case res.Extend != nil:
		out.Extended, out.Refused = make([]api.Extended, 0, len(res.Extend.Extended)), refusedIDs(res.Extend.Refused)
		for _, x := range res.Extend.Extended {
			out.Extended = append(out.Extended, api.Extended{ID: x.ID, ExpiresAt: x.ExpiresAt, Was: x.Was})
		}
	}
	if w := append(append([]string{}, g.task.Warnings...), warnings...); len(w) > 0 {
		out.Warnings = w
	}
	return out
}

// instances are the reply's: [] rather than null when there are none.
func instances(ins []api.Instance) []api.Instance {
	if ins == nil {
		return []api.Instance{}
	}
	return ins
}

func refusedIDs(rs []spot.RefusedID) []api.RefusedID {
	var out []api.RefusedID
	for _, r := range rs {
		out = append(out, api.RefusedID{ID: r.ID, Reason: r.Reason})
	}
	return out
}

// dollars is an amount as the reply's number. Up to 15 significant
// digits, the float64 nearest a micro-dollar amount prints as its decimal.
func dollars(u money.USD) *float64 {
	f := u.Dollars()
	return &f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// observe tells the metrics a task's outcome.
func (d TaskDeps) observe(g guarded, outcome string, res Result) {
	if d.Observe != nil {
		d.Observe(cmp.Or(g.req.Task, "unknown"), outcome, res)
	}
}

// audit writes one event per task. It names the token by id and never
// carries a secret, a token, or a body.
func (d TaskDeps) audit(ctx context.Context, g guarded, outcome string, res Result, err error, start time.Time) {
	d.observe(g, outcome, res)
	if d.Audit == nil {
		return
	}
	task := cmp.Or(g.req.Task, "unknown")
	attrs := []slog.Attr{
		slog.String("request_id", g.requestID),
		slog.String("source", g.source),
		slog.String("token_id", g.tok.ID),
		slog.String("task", task),
		slog.String("outcome", outcome),
		slog.String("region", g.region),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", apperr.Code(err)))
	}
	switch {
	case res.Launch != nil:
		ids := make([]string, 0, len(res.Launch.Instances))
		for _, in := range res.Launch.Instances {
			ids = append(ids, in.ID)
		}
		attrs = append(attrs, slog.Any("instance_ids", ids), slog.String("hourly_cost", res.Launch.HourlyCost.String()),
			slog.Bool("replayed", res.Launch.Replayed), slog.Bool("dry_run", res.Launch.DryRun))
	case res.Terminate != nil:
		attrs = append(attrs, slog.Any("instance_ids", res.Terminate.Terminated), slog.Int("refused", len(res.Terminate.Refused)))
	case res.Extend != nil:
		ids := make([]string, 0, len(res.Extend.Extended))
		for _, x := range res.Extend.Extended {
			ids = append(ids, x.ID)
		}
		attrs = append(attrs, slog.Any("instance_ids", ids), slog.String("ttl", g.req.TTL.String()), slog.Int("refused", len(res.Extend.Refused)))
	}
	d.Audit.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}
