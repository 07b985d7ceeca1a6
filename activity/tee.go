package activity

import (
	"context"
	"log/slog"
	"slices"
	"strings"
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
		d := draft{ev: Event{At: r.Time.UTC(), Event: "task"}}
		for _, at := range t.attrs {
			d.set(at)
		}
		r.Attrs(d.set)
		if d.dry {
			d.ev.Outcome += " (dry run)"
		}
		t.a.Record(d.token, d.ev)
	}
	return t.next.Handle(ctx, r)
}

// draft is an event read off one audit record's attributes.
type draft struct {
	ev    Event
	token string
	dry   bool
}

func (d *draft) set(at slog.Attr) bool {
	v := at.Value.Resolve()
	switch at.Key {
	case "token_id":
		d.token = v.String()
	case "event":
		d.ev.Event = v.String()
	case "task":
		d.ev.Task = v.String()
	case "outcome":
		d.ev.Outcome = v.String()
	case "source":
		d.ev.Source = v.String()
	case "region":
		d.ev.Region = v.String()
	case "error":
		d.ev.Error = v.String()
	case "request_id":
		d.ev.RequestID = v.String()
	case "instance_ids":
		if ids, ok := v.Any().([]string); ok {
			d.ev.Instances = slices.Clone(ids)
		}
	case "instance_id":
		if s := v.String(); s != "" {
			d.ev.Instances = append(d.ev.Instances, s)
		}
	case "hourly_cost":
		d.ev.Detail = "$" + v.String() + "/h"
	case "reason", "action":
		d.ev.Detail = strings.TrimSpace(d.ev.Detail + " " + v.String())
	case "ttl":
		d.ev.Detail = strings.TrimSpace(d.ev.Detail + " to a TTL of " + v.String())
	case "dry_run":
		d.dry = v.Kind() == slog.KindBool && v.Bool()
	}
	return true
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
