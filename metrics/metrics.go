// Package metrics holds spotter's Prometheus collectors on a registry of its
// own (never the global one), so tests and replicas in one process do not
// share counters.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors. The zero value is not usable; use New.
type Metrics struct {
	reg *prometheus.Registry

	Requests     *prometheus.CounterVec
	RequestTime  *prometheus.HistogramVec
	Tasks        *prometheus.CounterVec
	Launched     *prometheus.CounterVec
	AWSCalls     *prometheus.HistogramVec
	StoreCalls   *prometheus.HistogramVec
	ReaperEvents *prometheus.CounterVec
	Running      *prometheus.GaugeVec
	HourlyCost   *prometheus.GaugeVec
	MFATries     *prometheus.CounterVec
	MFALockouts  *prometheus.CounterVec
	// ReaperPasses counts reaper passes by how they ended; ReaperLastOK is
	// when one last reaped everything, so an alert can see the reaper stall.
	ReaperPasses *prometheus.CounterVec
	ReaperLastOK prometheus.Gauge
	// MaxRunning and MaxHourlySpend are each live token's caps, beside
	// Running and HourlyCost, so an alert can see a token near its cap.
	MaxRunning     *prometheus.GaugeVec
	MaxHourlySpend *prometheus.GaugeVec
	// Pools are the per-pool collectors (metrics/pools.go).
	Pools *Pools
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		RequestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spotter_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route"}),
		Tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_tasks_total", Help: "Tasks by type and outcome (ok, refused, failed).",
		}, []string{"task", "outcome"}),
		Launched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_instances_launched_total", Help: "Instances launched, by lifecycle (spot, on-demand).",
		}, []string{"lifecycle"}),
		AWSCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spotter_aws_call_duration_seconds", Help: "AWS API round trips by service and HTTP status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service", "status"}),
		StoreCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "spotter_store_call_duration_seconds", Help: "Secrets store (Vault or embedded) calls by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op", "result"}),
		ReaperEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_reaper_actions_total", Help: "Reaper actions by action and reason.",
		}, []string{"action", "reason"}),
		Running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spotter_running_instances", Help: "Live instances per token, as last seen.",
		}, []string{"token"}),
		HourlyCost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spotter_hourly_cost_dollars", Help: "Estimated $/hour of a token's live instances, as last seen.",
		}, []string{"token"}),
		MFATries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_mfa_attempts_total", Help: "MFA codes by MFA type (totp, aws) and outcome: ok, failed (wrong or reused, counted), locked (refused unchecked during a lockout).",
		}, []string{"mfa", "outcome"}),
		MFALockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_mfa_lockouts_total", Help: "Tokens locked after too many wrong MFA codes, by MFA type.",
		}, []string{"mfa"}),
		ReaperPasses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spotter_reaper_passes_total", Help: "Reaper passes by result: ok, partial (some token's account or region not reaped), failed.",
		}, []string{"result"}),
		ReaperLastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spotter_reaper_last_success_timestamp_seconds", Help: "Unix time of the last reaper pass that reaped every token.",
		}),
		MaxRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spotter_token_max_running", Help: "A live token's maxRunning cap.",
		}, []string{"token"}),
		MaxHourlySpend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spotter_token_max_hourly_spend_dollars", Help: "A live token's maxHourlySpend cap, for tokens that have one.",
		}, []string{"token"}),
	}
	m.reg.MustRegister(m.Requests, m.RequestTime, m.Tasks, m.Launched, m.AWSCalls, m.StoreCalls,
		m.ReaperEvents, m.Running, m.HourlyCost, m.MFATries, m.MFALockouts,
		m.ReaperPasses, m.ReaperLastOK, m.MaxRunning, m.MaxHourlySpend,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Pools = newPools()
	m.reg.MustRegister(m.Pools.collectors()...)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer exposes the registry to tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	m.Requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.RequestTime.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveMFA records one MFA try: outcome is "ok", "failed", "locked", or
// "lockout" (a failed try that locked the token).
func (m *Metrics) ObserveMFA(mfaType, outcome string) {
	if outcome == "lockout" {
		m.MFALockouts.WithLabelValues(mfaType).Inc()
		outcome = "failed"
	}
	m.MFATries.WithLabelValues(mfaType, outcome).Inc()
}

// ObserveReaperPass records how a reaper pass ended ("ok", "partial",
// "failed") at now.
func (m *Metrics) ObserveReaperPass(result string, now time.Time) {
	m.ReaperPasses.WithLabelValues(result).Inc()
	if result == "ok" {
		m.ReaperLastOK.Set(float64(now.UnixNano()) / 1e9)
	}
}

// ObserveLimits records a live token's caps; a maxHourlySpend of 0 (none)
// leaves no series.
func (m *Metrics) ObserveLimits(tokenID string, maxRunning int, maxHourlySpend float64) {
	m.MaxRunning.WithLabelValues(tokenID).Set(float64(maxRunning))
	if maxHourlySpend > 0 {
		m.MaxHourlySpend.WithLabelValues(tokenID).Set(maxHourlySpend)
	} else {
		m.MaxHourlySpend.DeleteLabelValues(tokenID)
	}
}

// ForgetToken drops a revoked token's series.
func (m *Metrics) ForgetToken(tokenID string) {
	for _, g := range []*prometheus.GaugeVec{m.Running, m.HourlyCost, m.MaxRunning, m.MaxHourlySpend} {
		g.DeleteLabelValues(tokenID)
	}
}

// Transport wraps an AWS HTTP transport to time each call. The service is
// read from the SigV4 credential scope, so no body is parsed or kept.
func (m *Metrics) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(r)
		status := "error"
		if err == nil {
			status = strconv.Itoa(resp.StatusCode)
		}
		m.AWSCalls.WithLabelValues(serviceOf(r.Header.Get("Authorization")), status).Observe(time.Since(start).Seconds())
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// serviceOf reads "ec2" from "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2/aws4_request, …".
func serviceOf(auth string) string {
	_, scope, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "unknown"
	}
	scope, _, _ = strings.Cut(scope, ",")
	parts := strings.Split(scope, "/")
	if len(parts) < 5 {
		return "unknown"
	}
	switch s := parts[3]; s {
	case "ec2", "sts":
		return s
	default:
		return "other"
	}
}
