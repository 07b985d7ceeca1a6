package activity

import (
	"context"
	"log/slog"
	"slices"
)

// Tee returns a handler that passes every record to next and keeps each
// audit event that names a token (the message "audit" with a token_id, as
// the task pipeline and the reaper write them) in that token's history.
// Reading the audit log rather than being called keeps one place that
// says what a task did: what the log says is what the console shows.
func (a *Activity) Tee(next slog.Handler) slog.Handler {
	return &tee{next: next, a: a}
}

type tee struct {
	next  slog.Handler
	a     *Activity
	attrs []slog.Attr // from WithAttrs, outside any group
	group bool        // a WithGroup was applied: attrs are no longer top-level
}

func (t *tee) Enabled(ctx context.Context, l slog.Level) bool {
	return t.next.Enabled(ctx, l)
}

func (t *tee) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "audit" && !t.group {
		ev, tok, dry := Event{At: r.Time.UTC(), Event: "task"}, "", false
		visit := func(at slog.Attr) bool {
			v := at.Value.Resolve()
			switch at.Key {
			case "token_id":
				tok = v.String()
			case "event":
				ev.Event = v.String()
			case "task":
				ev.Task = v.String()
			case "outcome":
				ev.Outcome = v.String()
			case "source":
				ev.Source = v.String()
			case "region":
				ev.Region = v.String()
			case "error":
				ev.Error = v.String()
			case "request_id":
				ev.RequestID = v.String()
			case "instance_ids":
				if ids, ok := v.Any().([]string); ok {
					ev.Instances = slices.Clone(ids)
				}
			case "instance_id":
				if s := v.String(); s != "" {
					ev.Instances = append(ev.Instances, s)
				}
			case "hourly_cost":
				ev.Detail = "$" + v.String() + "/h"
			case "reason", "action":
				if ev.Detail != "" {
					ev.Detail += " "
				}
				ev.Detail += v.String()
			case "dry_run":
				dry = v.Kind() == slog.KindBool && v.Bool()
			}
			return true
		}
		for _, at := range t.attrs {
			visit(at)
		}
		r.Attrs(visit)
		if dry {
			ev.Outcome += " (dry run)"
		}
		t.a.Record(tok, ev)
	}
	return t.next.Handle(ctx, r)
}

func (t *tee) WithAttrs(as []slog.Attr) slog.Handler {
	c := *t
	c.next = t.next.WithAttrs(as)
	if !t.group {
		c.attrs = append(slices.Clone(t.attrs), as...)
	}
	return &c
}

func (t *tee) WithGroup(name string) slog.Handler {
	c := *t
	c.next = t.next.WithGroup(name)
	c.group = c.group || name != ""
	return &c
}
