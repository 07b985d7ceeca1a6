package handlers

import (
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/money"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
)

// replyBody is what a task answers with: the task, where it ran, and what
// it did, with every warning a person should read. The code is the
// caller's to set. A list the task always gives is [] when empty.
func (d TaskDeps) replyBody(g task.Guarded, res task.Result) api.TaskReply {
	out := api.TaskReply{Task: g.Req.Task, Region: g.Region, TokenID: g.Token.ID, RequestID: g.RequestID}
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
		out.HourlyCost, out.CostSoFar, out.NextCursor = dollars(r.HourlyCost), dollars(r.CostSoFar), r.NextCursor
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
	if w := append(append([]string{}, g.Task.Warnings...), warnings...); len(w) > 0 {
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
