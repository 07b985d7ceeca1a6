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
// inputs give the same decision, so the event is enough to replay it. A
// decision that acts, or aims elsewhere than this replica's last one for
// the pool, is written at info; a pass that finds the pool as it left it
// is written at debug, so a quiet pool does not fill the audit log with
// one event per interval.
func (r *Reconciler) audit(ctx context.Context, in pool.Input, d pool.Decision) {
	aim := lastAim{desired: d.Desired, hold: d.Hold, epoch: d.Epoch}
	r.mu.Lock()
	same := r.aims[in.Pool.Name] == aim
	r.aims[in.Pool.Name] = aim
	r.mu.Unlock()
	level := slog.LevelInfo
	if same && !d.Changes() {
		level = slog.LevelDebug
	}
	r.cfg.Audit.LogAttrs(ctx, level, "pool decision",
		slog.String("pool", in.Pool.Name), slog.String("incarnation", in.Incarnation), slog.Uint64("epoch", in.Epoch),
		slog.Any("demand", in.Demand), slog.Any("instances", in.Instances), slog.Time("now", in.Now),
		slog.Time("last_scale_out", in.LastScaleOut), slog.Time("last_scale_in", in.LastScaleIn),
		slog.Any("decision", d))
}

// lastAim is what a replica's last decision for a pool aimed at.
type lastAim struct {
	desired int
	hold    string
	epoch   uint64
}

// ended writes the audit event of a decision's terminations.
func (r *Reconciler) ended(ctx context.Context, name string, epoch uint64, d pool.Decision, terminated []string, err error) {
	r.cfg.Audit.LogAttrs(ctx, slog.LevelInfo, "pool end", slog.String("pool", name), slog.Uint64("epoch", epoch),
		slog.Any("end", d.End), slog.Any("terminated", terminated), slog.String("error", errText(err)))
}
