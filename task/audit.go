package task

import (
	"cmp"
	"context"
	"log/slog"
	"unicode/utf8"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/spot"
)

// Result is what a task did, for the reply, the audit log and metrics.
type Result struct {
	Launch    *spot.LaunchResult
	Terminate *spot.TerminateResult
	Status    *spot.StatusResult
	Price     *spot.PriceResult
	Cancel    *spot.CancelResult
	Extend    *spot.ExtendResult
}

// observe tells the metrics a task's outcome.
func (p *Pipeline) observe(g Guarded, outcome string, res Result) {
	if p.Observe != nil {
		p.Observe(cmp.Or(g.Req.Task, "unknown"), outcome, res)
	}
}

// audit writes one event per task. It names the token by id and never
// carries a secret, a token, or a body.
func (p *Pipeline) audit(ctx context.Context, g Guarded, outcome string, res Result, err error) {
	p.observe(g, outcome, res)
	if p.Audit == nil {
		return
	}
	task := cmp.Or(g.Req.Task, "unknown")
	attrs := []slog.Attr{
		slog.String("request_id", g.RequestID),
		slog.String("source", g.Source),
		slog.String("token_id", g.Token.ID),
		slog.String("task", task),
		slog.String("outcome", outcome),
		slog.String("region", g.Region),
		slog.Duration("duration", p.now().Sub(g.start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", apperr.Code(err)))
		// Which rule refused, so an operator need not reproduce the
		// request: a policy's or the price's details name rules and
		// values of the policy, never a secret or the body.
		if c := apperr.Code(err); c == apperr.PolicyDenied || c == apperr.PriceTooLow {
			attrs = append(attrs, slog.String("details", clip(apperr.Details(err), maxAuditDetails)))
		}
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
		attrs = append(attrs, slog.Any("instance_ids", ids), slog.String("ttl", g.Req.TTL.String()), slog.Int("refused", len(res.Extend.Refused)))
	}
	p.Audit.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}

// maxAuditDetails bounds a refusal's details in the audit line, so a
// policy with hundreds of allowed types cannot make each refusal long.
const maxAuditDetails = 300

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
