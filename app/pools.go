package app

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/reconcile"
	"github.com/spotter-dev/spotter/sources"
	"github.com/spotter-dev/spotter/spot"
)

// poolSource is the pools registry as the reconciler reads it: a thin
// adapter, so reconcile depends on its own small interface, not on the
// store's record type.
type poolSource struct {
	r *pools.Registry
	// forget deletes what other packages keep for a pool once it is
	// removed (its secrets, its sources); their sweeps repair a failure.
	forget func(ctx context.Context, name string)
}

func (s poolSource) Names(ctx context.Context) ([]string, error) {
	recs, err := s.r.List(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(recs))
	for i, rec := range recs {
		names[i] = rec.Pool.Name
	}
	return names, nil
}

func (s poolSource) Get(ctx context.Context, name string) (reconcile.State, error) {
	rec, err := s.r.Get(ctx, name)
	if err != nil {
		return reconcile.State{}, err
	}
	return stateOf(rec), nil
}

func stateOf(rec pools.Record) reconcile.State {
	st := reconcile.State{Pool: rec.Pool, Incarnation: rec.Incarnation, Epoch: rec.Epoch,
		LastScaleOut: rec.LastScaleOut, LastScaleIn: rec.LastScaleIn, Deleted: rec.DeletedAt != nil, Instances: rec.Instances}
	if rec.Demand != nil {
		st.Demand = *rec.Demand
	}
	return st
}

// Commit applies a decision's record with the registry's check-and-set,
// by reconcile.State.Apply's rule.
func (s poolSource) Commit(ctx context.Context, name string, c reconcile.Commit) error {
	_, err := s.r.Update(ctx, name, func(rec *pools.Record) error {
		st := stateOf(*rec)
		if err := st.Apply(c); err != nil {
			return err
		}
		rec.Epoch, rec.LastScaleOut, rec.LastScaleIn = st.Epoch, st.LastScaleOut, st.LastScaleIn
		if st.Instances != nil {
			rec.Instances = st.Instances
		}
		return nil
	})
	return err
}

func (s poolSource) Remove(ctx context.Context, name string) error {
	if err := s.r.Remove(ctx, name); err != nil {
		return err
	}
	if s.forget != nil {
		s.forget(ctx, name)
	}
	return nil
}

// reconciler keeps the pools at their demand. Every replica runs one; a
// lease per pool in the store lets one at a time act on it.
func (a *App) reconciler(reg *pools.Registry, sp *spot.Client, m *metrics.Metrics, st store, ledger *inflight.Ledger, ci *sources.Service) *reconcile.Reconciler {
	now := a.cfg.now()
	live := newSharedLiveness(liveness.New(st))
	fleet := &reconcile.AWS{Tokens: a.reg, Spot: sp, Ledger: ledger, Now: now,
		Activity: func(ctx context.Context, p pool.Pool) (map[string]pool.Activity, error) {
			return ci.Activity(ctx, p.Name)
		},
		Reported: live.Reported}
	if a.boot != nil {
		fleet.UserData = func(ctx context.Context, p pool.Pool, clientToken string, capacity int) ([]byte, error) {
			return a.boot.Issue(ctx, p, bootstrap.Launch{ClientToken: clientToken, Capacity: capacity})
		}
	}
	pm := m.Pools
	return reconcile.New(reconcile.Config{
		Pools: poolSource{r: reg, forget: a.forgetPool(ci)}, Lister: fleet, Launcher: fleet, Terminator: fleet, Store: st,
		Liveness: live, Tagger: fleet,
		Interval: a.cfg.Timeouts.PoolInterval, Now: now,
		Log: a.log.With("component", "pools"), Audit: a.log.With("log", "audit"),
		Observe: func(o reconcile.Observation) {
			pm.Desired.WithLabelValues(o.Pool).Set(float64(o.Decision.Desired))
			pm.Running.WithLabelValues(o.Pool).Set(float64(o.Busy))
			pm.Booting.WithLabelValues(o.Pool).Set(float64(o.Booting))
			pm.Idle.WithLabelValues(o.Pool).Set(float64(o.Idle))
			pm.Pending.WithLabelValues(o.Pool).Set(float64(o.Demand.Pending))
			pm.HourlyCost.WithLabelValues(o.Pool).Set(o.HourlyCost)
			pm.Launches.WithLabelValues(o.Pool).Add(float64(o.Launched))
			pm.Interruptions.WithLabelValues(o.Pool).Add(float64(o.Interrupted))
			pm.Dangling.WithLabelValues(o.Pool).Set(float64(o.Dangling))
			for reason, n := range o.DanglingEnded {
				pm.DanglingEnded.WithLabelValues(o.Pool, reason).Add(float64(n))
			}
		},
		Forget: func(name string) {
			for _, g := range []*prometheus.GaugeVec{pm.Desired, pm.Running, pm.Booting, pm.Idle, pm.Pending, pm.HourlyCost, pm.Dangling} {
				g.DeleteLabelValues(name)
			}
			pm.Launches.DeleteLabelValues(name)
			pm.Interruptions.DeleteLabelValues(name)
			pm.DanglingEnded.DeletePartialMatch(prometheus.Labels{"pool": name})
		},
	})
}

// forgetPool deletes a removed pool's bootstrap secrets and CI sources.
func (a *App) forgetPool(ci *sources.Service) func(ctx context.Context, name string) {
	return func(ctx context.Context, name string) {
		if a.boot != nil {
			if _, err := a.boot.ForgetPool(ctx, name); err != nil {
				a.log.Warn("delete the secrets of a removed pool (the sweep retries)", "pool", name, "error", err)
			}
		}
		if err := ci.ForgetPool(ctx, name); err != nil {
			a.log.Warn("delete the CI sources of a removed pool (the sweep retries)", "pool", name, "error", err)
		}
	}
}
