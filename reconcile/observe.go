package reconcile

import (
	"context"
	"log/slog"

	"github.com/spotter-dev/spotter/pool"
)

// observe counts what a pass saw, in capacity units.
func observe(name string, in pool.Input, d pool.Decision) Observation {
	o := Observation{Pool: name, Decision: d, Demand: in.Demand}
	for _, i := range in.Instances {
		o.Live += i.Capacity
		o.HourlyCost += i.Price
		switch i.State {
		case pool.Booting:
			o.Booting += i.Capacity
		case pool.Idle:
			o.Idle += i.Capacity
		case pool.Busy:
			o.Busy += i.Capacity
		}
	}
	for _, e := range d.End {
		if e.Reason == pool.ReasonInterrupted {
			o.Interrupted++
		}
	}
	return o
}

// audit writes one event per decision with everything it read: the same
// inputs give the same decision, so the event is enough to replay it.
func (r *Reconciler) audit(ctx context.Context, in pool.Input, d pool.Decision) {
	r.cfg.Audit.LogAttrs(ctx, slog.LevelInfo, "pool decision",
		slog.String("pool", in.Pool.Name), slog.String("incarnation", in.Incarnation), slog.Uint64("epoch", in.Epoch),
		slog.Any("demand", in.Demand), slog.Any("instances", in.Instances), slog.Time("now", in.Now),
		slog.Time("last_scale_out", in.LastScaleOut), slog.Time("last_scale_in", in.LastScaleIn),
		slog.Any("decision", d))
}
