package reconcile

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
)

// Dangling instances (issue 13; Buildkite's dangling check, Taskcluster's
// zombies, the GitHub runners' orphans): a running instance of a pool with
// a bootstrap template that did not bootstrap within bootTimeout of its
// launch, or that bootstrapped and then went silent for heartbeatTimeout.
// The first pass that finds one tags it (TagDangling) and stops counting
// it as capacity, so Decide replaces it; a pass at least a grace later
// terminates it if it is still dangling; one that bootstraps or beats in
// between is untagged and counts again.
const (
	TagDangling       = "spotter:dangling" // RFC 3339 time it was found
	TagDanglingReason = "spotter:dangling-reason"

	DanglingNoBootstrap = "no_bootstrap"
	DanglingNoHeartbeat = "no_heartbeat"
)

// Liveness is the pool instances' liveness records (package liveness):
// what the hand-off and the heartbeats wrote, and the dangling marks.
type Liveness interface {
	List(ctx context.Context, pool string) (map[string]liveness.Record, error)
	Update(ctx context.Context, pool, id string, fn func(r *liveness.Record) bool) error
	Delete(ctx context.Context, pool, id string) error
}

// Tagger tags and untags the pool's instances in EC2.
type Tagger interface {
	Tag(ctx context.Context, p pool.Pool, ids []string, tags map[string]string) error
	Untag(ctx context.Context, p pool.Pool, ids []string, keys []string) error
}

// Dangler is one dangling instance.
type Dangler struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"` // when it was first found
}

// danglePlan is what one pass does about dangling instances.
type danglePlan struct {
	keep      []pool.Instance // what Decide counts
	mark      []Dangler       // found now: tag them
	end       []Dangler       // tagged a grace ago and still dangling
	wait      []Dangler       // tagged, not yet due
	recovered []string        // tagged, alive again: untag
	forget    []string        // records of instances gone, quiet for heartbeatTimeout
}

// DanglingReason says why an instance is dangling at now, or "". Only an
// instance the reconciler launched expecting heartbeats is judged (its
// record has LaunchedAt): an older spotter's launches run a script that
// does not beat. An EC2 "pending" instance is left to Decide's boot
// timeout; a pool without a bootstrap template has no hand-off and no
// heartbeats to judge by. The
// windows close at their end: at exactly bootTimeout after its launch an
// instance that has not bootstrapped is dangling (its credential expired
// then), and so is one whose last sign of life is exactly heartbeatTimeout
// old.
func DanglingReason(p pool.Pool, in pool.Instance, rec liveness.Record, now time.Time) string {
	switch {
	case p.Bootstrap == "" || in.State == pool.Booting || rec.LaunchedAt.IsZero():
		return ""
	case rec.BootstrappedAt.IsZero():
		if now.Sub(in.Launched) >= time.Duration(p.BootTimeout) {
			return DanglingNoBootstrap
		}
	case now.Sub(rec.Seen()) >= p.HeartbeatWindow():
		return DanglingNoHeartbeat
	}
	return ""
}

// planDangling sorts a pool's instances by the rule. grace is how long a
// tagged instance has to recover before it is terminated.
func planDangling(p pool.Pool, ins []pool.Instance, live map[string]liveness.Record, now time.Time, grace time.Duration) danglePlan {
	dp := danglePlan{keep: make([]pool.Instance, 0, len(ins))} // never nil: Commit reads nil as "unchanged"
	listed := make(map[string]bool, len(ins))
	for _, in := range ins {
		listed[in.ID] = true
		rec := live[in.ID]
		reason := DanglingReason(p, in, rec, now)
		switch {
		case reason == "":
			if !rec.DanglingSince.IsZero() {
				dp.recovered = append(dp.recovered, in.ID)
			}
			dp.keep = append(dp.keep, in)
		case rec.DanglingSince.IsZero():
			dp.mark = append(dp.mark, Dangler{ID: in.ID, Reason: reason, Since: now})
		case now.Sub(rec.DanglingSince) >= grace:
			dp.end = append(dp.end, Dangler{ID: in.ID, Reason: reason, Since: rec.DanglingSince})
		default:
			dp.wait = append(dp.wait, Dangler{ID: in.ID, Reason: reason, Since: rec.DanglingSince})
		}
	}
	for id, rec := range live {
		if !listed[id] && now.Sub(rec.Touched()) >= p.HeartbeatWindow() {
			dp.forget = append(dp.forget, id)
		}
	}
	slices.Sort(dp.forget)
	return dp
}

// expect writes the record of each instance a launch started, so the
// dangling check judges it. A write that fails leaves that instance
// unjudged (logged), never wrongly ended.
func (r *Reconciler) expect(ctx context.Context, p pool.Pool, ids []string, at time.Time) {
	if r.cfg.Liveness == nil || r.cfg.Tagger == nil || p.Bootstrap == "" {
		return
	}
	for _, id := range ids {
		err := r.cfg.Liveness.Update(ctx, p.Name, id, func(rec *liveness.Record) bool {
			if !rec.LaunchedAt.IsZero() {
				return false // a replayed launch
			}
			rec.LaunchedAt = at.UTC()
			return true
		})
		if err != nil {
			r.cfg.Log.Warn("pool instance liveness record not written at launch; it will not be judged dangling", "pool", p.Name, "instance_id", id, "error", err)
		}
	}
}

// dangling reads the pool's liveness and plans the pass; with no
// Liveness wired, or a pool paused (hands off), every instance counts.
// A draining pool launches nothing and ends every idle instance anyway:
// it only drops the records of instances already gone, at once, so a
// deleted pool leaves none behind.
func (r *Reconciler) dangling(ctx context.Context, p pool.Pool, ins []pool.Instance, now time.Time) (danglePlan, error) {
	if r.cfg.Liveness == nil || r.cfg.Tagger == nil || p.Paused || p.Bootstrap == "" {
		return danglePlan{keep: ins}, nil
	}
	live, err := r.cfg.Liveness.List(ctx, p.Name)
	if err != nil {
		return danglePlan{}, err
	}
	if p.Draining {
		dp := danglePlan{keep: ins}
		for id := range live {
			if !slices.ContainsFunc(ins, func(in pool.Instance) bool { return in.ID == id }) {
				dp.forget = append(dp.forget, id)
			}
		}
		return dp, nil
	}
	return planDangling(p, ins, live, now, max(r.cfg.Interval, p.HeartbeatInterval())), nil
}

// carryDangling tags, untags and terminates as planned, under the pool's
// lease. A step that fails is logged and taken again next pass: the
// store's mark is written only once EC2 has the tag.
func (r *Reconciler) carryDangling(ctx context.Context, p pool.Pool, dp danglePlan, now time.Time, obs *Observation) {
	obs.Dangling = len(dp.mark) + len(dp.wait)
	for _, d := range dp.mark {
		err := r.cfg.Tagger.Tag(ctx, p, []string{d.ID}, map[string]string{TagDangling: now.UTC().Format(time.RFC3339), TagDanglingReason: d.Reason})
		if err == nil {
			err = r.cfg.Liveness.Update(ctx, p.Name, d.ID, func(rec *liveness.Record) bool {
				rec.DanglingSince, rec.DanglingReason = now.UTC(), d.Reason
				return true
			})
		}
		r.auditDangling(ctx, p.Name, "tagged", d, err)
	}
	if len(dp.end) > 0 {
		ids := make([]string, len(dp.end))
		for i, d := range dp.end {
			ids[i] = d.ID
		}
		ended, err := r.cfg.Terminator.Terminate(ctx, p, ids)
		for _, d := range dp.end {
			if slices.Contains(ended, d.ID) {
				if obs.DanglingEnded == nil {
					obs.DanglingEnded = map[string]int{}
				}
				obs.DanglingEnded[d.Reason]++
				r.auditDangling(ctx, p.Name, "terminated", d, nil)
			} else {
				obs.Dangling++
				r.auditDangling(ctx, p.Name, "terminated", d, err)
			}
		}
	}
	for _, id := range dp.recovered {
		err := r.cfg.Tagger.Untag(ctx, p, []string{id}, []string{TagDangling, TagDanglingReason})
		if err == nil {
			err = r.cfg.Liveness.Update(ctx, p.Name, id, func(rec *liveness.Record) bool {
				rec.DanglingSince, rec.DanglingReason = time.Time{}, ""
				return true
			})
		}
		r.auditDangling(ctx, p.Name, "recovered", Dangler{ID: id}, err)
	}
	for _, id := range dp.forget {
		if err := r.cfg.Liveness.Delete(ctx, p.Name, id); err != nil {
			r.cfg.Log.Warn("pool instance liveness record not deleted", "pool", p.Name, "instance_id", id, "error", err)
		}
	}
}

func (r *Reconciler) auditDangling(ctx context.Context, name, outcome string, d Dangler, err error) {
	level, text := slog.LevelInfo, errText(err)
	if err != nil {
		level = slog.LevelWarn
		if text == "" {
			text = err.Error() // not an apperr: the store's, say
		}
	}
	r.cfg.Audit.LogAttrs(ctx, level, "pool dangling", slog.String("pool", name), slog.String("outcome", outcome),
		slog.String("instance_id", d.ID), slog.String("reason", d.Reason), slog.Time("since", d.Since), slog.String("error", text))
}
