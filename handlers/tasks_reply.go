package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// replyBody is the JSON a task answers with: the task, where it ran, and
// what it did, with every warning a person should read.
func (d TaskDeps) replyBody(g guarded, res Result) map[string]any {
	v := map[string]any{"task": g.req.Task, "region": g.region, "tokenId": g.tok.ID, "requestId": g.requestID}
	var warnings []string
	switch {
	case res.Launch != nil:
		merge(v, res.Launch)
		warnings = res.Launch.Warnings
		if res.Launch.Instances == nil {
			v["instances"] = []any{}
		}
	case res.Terminate != nil:
		merge(v, res.Terminate)
		if res.Terminate.Terminated == nil {
			v["terminated"] = []any{}
		}
	case res.Status != nil:
		merge(v, res.Status)
		warnings = res.Status.Warnings
		if res.Status.Instances == nil {
			v["instances"] = []any{}
		}
	case res.Price != nil:
		merge(v, res.Price)
		warnings = res.Price.Warnings
	case res.Cancel != nil:
		merge(v, res.Cancel)
		if res.Cancel.Cancelled == nil {
			v["cancelled"] = []any{}
		}
	case res.Extend != nil:
		merge(v, res.Extend)
	}
	if w := append(append([]string{}, g.task.Warnings...), warnings...); len(w) > 0 {
		v["warnings"] = w
	}
	return v
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
