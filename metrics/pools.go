package metrics

import "github.com/prometheus/client_golang/prometheus"

// Pools are the per-pool collectors the reconciler feeds, labelled by
// pool name. Capacities are in capacity units (job slots), not instances.
type Pools struct {
	Desired       *prometheus.GaugeVec
	Running       *prometheus.GaugeVec
	Booting       *prometheus.GaugeVec
	Idle          *prometheus.GaugeVec
	Pending       *prometheus.GaugeVec
	HourlyCost    *prometheus.GaugeVec
	Launches      *prometheus.CounterVec
	Interruptions *prometheus.CounterVec
	// Dangling counts instances (not units) tagged dangling and not yet
	// ended; DanglingEnded the ones terminated, by reason.
	Dangling      *prometheus.GaugeVec
	DanglingEnded *prometheus.CounterVec
}

func newPools() *Pools {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"pool"})
	}
	return &Pools{
		Desired:    gauge("spotter_pool_desired_capacity", "Capacity units the pool's last decision aimed at."),
		Running:    gauge("spotter_pool_running_capacity", "Capacity units running a job (busy), as GET /v1/pools/{name} counts running."),
		Booting:    gauge("spotter_pool_booting_capacity", "Capacity units still booting."),
		Idle:       gauge("spotter_pool_idle_capacity", "Capacity units running no job."),
		Pending:    gauge("spotter_pool_pending_jobs", "Pending jobs of the pool's last demand report."),
		HourlyCost: gauge("spotter_pool_hourly_cost_dollars", "Estimated $/hour of the pool's live instances."),
		Launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_pool_instances_launched_total", Help: "Instances the reconciler started for the pool.",
		}, []string{"pool"}),
		Interruptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_pool_interruptions_total", Help: "Pool instances ended for a spot interruption or rebalance notice.",
		}, []string{"pool"}),
		Dangling: gauge("spotter_pool_dangling_instances", "Pool instances tagged dangling (never bootstrapped, or stopped heartbeating), not counted as capacity, not yet terminated."),
		DanglingEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_pool_dangling_terminations_total", Help: "Dangling pool instances terminated, by reason (no_bootstrap, no_heartbeat).",
		}, []string{"pool", "reason"}),
	}
}

func (p *Pools) collectors() []prometheus.Collector {
	return []prometheus.Collector{p.Desired, p.Running, p.Booting, p.Idle, p.Pending, p.HourlyCost, p.Launches, p.Interruptions, p.Dangling, p.DanglingEnded}
}
