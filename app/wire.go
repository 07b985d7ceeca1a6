package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/pages"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/reconcile"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/sources"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// wire builds the services over the store and the HTTP edge over them;
// every part gets the one clock.
func (a *App) wire(ctx context.Context, st store) error {
	cfg, log, now := a.cfg, a.log, a.cfg.now()
	m := metrics.New()
	var store store = timedStore{store: st, m: m}
	// The console's recent events per token are read off the audit log;
	// what is still queued is written at Close, before the store closes.
	act := activity.New(store, log.With("component", "activity"), now)
	a.onClose(func() error { act.Close(); return nil })
	log = slog.New(act.Tee(log.Handler()))
	a.log = log
	auth, err := token.NewAuthority(store, token.Config{Issuer: "spotter", Now: now})
	if err != nil {
		return fmt.Errorf("token authority: %w", err)
	}
	admin, generated, err := capability.NewAdmin(ctx, store, cfg.AdminToken)
	if err != nil {
		return err
	}
	a.reg, err = capability.New(capability.Config{
		Store: store, Authority: auth, Logger: log, Now: now,
		PublicURL: cfg.publicURL(a.scheme), DefaultRegion: cfg.Region,
		DefaultExpiresIn: cfg.TokenTTL, ObserveMFA: m.ObserveMFA,
	})
	if err != nil {
		return err
	}
	// Pools hold their token to its policy at every change; the reconciler
	// reads them from a.pools.
	// A demand report asks the reconciler (made below, once the AWS client
	// is) for a pass over its pool at once; none is served before then.
	var rc *reconcile.Reconciler
	a.pools, err = pools.New(pools.Config{Store: store, Authority: auth, Tokens: a.reg, Logger: log, Now: now,
		PublicURL: cfg.publicURL(a.scheme), OnDemand: func(name string) { rc.Notify(name) }})
	if err != nil {
		return err
	}
	if cfg.Sandbox {
		if a.sandbox, err = startSandboxAWS(log, now); err != nil {
			return err
		}
		a.onClose(a.sandbox.Close)
	}
	a.generated = generated
	if generated != "" && !cfg.Sandbox {
		// Printed once, on stdout rather than the log, and never again: it is
		// kept sealed in the store.
		fmt.Fprintf(a.stdout, "admin token (shown once; keep it, e.g. export SPOTTER_ADMIN_TOKEN=...):\n  %s\n", generated)
	}
	sp, err := a.newSpot(ctx, m)
	if err != nil {
		return err
	}
	a.background = &handlers.Background{Log: log.With("component", "background")}
	audit := log.With("log", "audit")
	// A flood of refusals writes a line and a count per minute and source;
	// the metrics count each. Counts still held are written at Close.
	refusals := task.NewRefusalLog(audit, 0, now)
	a.onClose(func() error { refusals.Flush(); return nil })
	// One ledger counts the token's task and pool launches alike.
	ledger := a.ledger(store)
	pipeline := &task.Pipeline{Tokens: a.reg, Spot: sp, Inflight: ledger, Audit: audit, Observe: observeTask(m),
		Refusals: refusals, Log: log.With("component", "tasks"), Now: now}
	tasks := handlers.TaskDeps{Pipeline: pipeline, Tokens: a.reg, Background: a.background,
		Sources: handlers.SourceConfig{PublicURL: cfg.publicURL(a.scheme), SlackResponseURLs: cfg.SlackResponseURLs,
			Log: log.With("component", "sources"), Now: now}}
	watch := act.WatchReaper(cfg.Timeouts.ReaperInterval)
	watch.Pools = a.pools.List
	if cfg.Timeouts.ReaperInterval > 0 {
		a.goBackground(a.bg, a.reaper(sp, m, watch).Run)
	}
	// CI sources write pools' demand from provider webhooks and pollers,
	// and ask the reconciler for a pass over the pool as reports do;
	// the reconciler reads from them what runs on each instance.
	ci, err := sources.New(sources.Deps{Store: store, Pools: a.pools, Logger: log.With("component", "ci-sources"), Now: now,
		Notify: func(name string) { rc.Notify(name) }})
	if err != nil {
		return err
	}
	// The hand-off mints GitHub runner registrations with the pools'
	// GitHub sources.
	if a.boot, err = a.bootstrap(store, sp, audit, ci.NewMinter()); err != nil {
		return err
	}
	if cfg.Timeouts.PoolInterval > 0 {
		rc = a.reconciler(a.pools, sp, m, store, ledger, ci)
		a.goBackground(a.bg, rc.Run)
	}
	console := &pages.ConsoleDeps{Store: store, Admin: admin, Tokens: a.reg, Activity: act, Audit: audit,
		Reaping: cfg.Timeouts.ReaperInterval > 0, Pools: a.pools,
		Instances: (&reaper.Reaper{Tokens: a.reg, Spot: sp, Log: log.With("component", "console")}).Status}
	if every := cfg.Timeouts.SourcesPoll; every > 0 {
		a.goBackground(a.bg, func(ctx context.Context) { ci.Run(ctx, every) })
	}
	a.h = server.New(server.Deps{Logger: log, Store: store, Tokens: a.reg, Admin: admin, Keys: store, Tasks: tasks, Metrics: m,
		Pools: a.pools, DemandLimit: handlers.DemandLimit{Store: store}, Sources: ci, Bootstrap: a.boot, Console: console},
		server.Options{BodyLimit: cfg.BodyLimit, RequestTimeout: cfg.Timeouts.Request, Now: now})
	return nil
}

// ledger counts each token's launches in flight. The embedded store is
// one process's file (bbolt locks it), so its replica is alone and counts
// in memory; Vault may be shared by replicas that come and go unannounced,
// so launches there reserve capacity in the store.
func (a *App) ledger(st store) *inflight.Ledger {
	if a.cfg.VaultAddr != "" && !a.cfg.Sandbox {
		return inflight.NewShared(st, inflight.SharedOptions{Lease: a.cfg.Timeouts.LaunchLease, Now: a.cfg.now(),
			Log: a.log.With("component", "inflight")})
	}
	return inflight.New(0, a.cfg.now())
}

// reaper terminates what outlived its TTL or its token, and keeps the
// running and cost gauges of every token it looked at.
func (a *App) reaper(sp *spot.Client, m *metrics.Metrics, watch *activity.ReaperWatch) *reaper.Reaper {
	now := a.cfg.now()
	return &reaper.Reaper{Tokens: a.reg, Spot: sp, Interval: a.cfg.Timeouts.ReaperInterval, Now: now,
		Log:     a.log.With("component", "reaper"),
		Observe: func(act spot.ReapAction) { m.ReaperEvents.WithLabelValues(act.Action, act.Reason).Inc() },
		Usage: func(id string, u spot.Usage) {
			m.Running.WithLabelValues(id).Set(float64(u.Running))
			m.HourlyCost.WithLabelValues(id).Set(u.HourlySpend)
			watch.Usage(id, u) // spend, and the console's last pass
		},
		Forget: m.ForgetToken,
		Limits: func(id string, p api.Policy) { m.ObserveLimits(id, p.MaxRunning, p.MaxHourlySpend) },
		Passed: func(result string) { m.ObserveReaperPass(result, now()) },
		Report: watch.Report}
}

func loadTLS(cfg Config, log *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		log.Info("TLS certificate loaded", "cert", cfg.TLSCert, "sha256", server.Fingerprint(c.Leaf.Raw))
		return server.TLSConfig(c), nil
	}
	hosts := []string{}
	if h := cfg.publicHost(); h != "" {
		hosts = append(hosts, h)
	}
	if h, _, err := net.SplitHostPort(cfg.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		hosts = append(hosts, h)
	}
	ss, err := server.LoadOrCreateCert(cfg.DataDir, hosts, cfg.now()())
	if err != nil {
		return nil, err
	}
	msg := "self-signed TLS certificate reused"
	if ss.Created {
		msg = "self-signed TLS certificate created"
	}
	log.Info(msg, "cert", ss.CertFile, "sha256", ss.Fingerprint,
		"hint", "clients verify it with curl --cacert "+ss.CertFile+" or pin the fingerprint")
	return server.TLSConfig(ss.Cert), nil
}

// newSpot builds the AWS client: the sandbox's emulator, or the endpoints
// named by AWS_ENDPOINT_URL_EC2/_STS/_PRICING (empty: real AWS).
func (a *App) newSpot(ctx context.Context, m *metrics.Metrics) (*spot.Client, error) {
	cfg := a.cfg
	hc := &http.Client{Transport: m.Transport(awsTransport()), Timeout: cfg.Timeouts.AWSCall}
	sc := spot.Config{
		HTTPClient:  hc,
		EC2Endpoint: cfg.EC2Endpoint, STSEndpoint: cfg.STSEndpoint, PricingEndpoint: cfg.PricingEndpoint,
		DefaultRegion: cfg.Region,
		Logger:        a.log.With("component", "spot"),
		Now:           cfg.now(),
		// A waiting launch must answer inside the request timeout (Validate checks).
		WaitTimeout: cfg.Timeouts.LaunchWait,
	}
	if a.sandbox != nil {
		sc.EC2Endpoint, sc.STSEndpoint, sc.PricingEndpoint = a.sandbox.url, a.sandbox.url, a.sandbox.url
		sc.PollInterval = cfg.Timeouts.SandboxPoll
		// The emulator's default user is the sandbox's own identity, so
		// tokens holding only a role work there too.
		sc.ServiceCredentials = spot.Static(spot.Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey})
	} else {
		own, err := cfg.Identity.provider(ctx, cfg.Region)
		if err != nil {
			return nil, err
		}
		// Instance metadata may take seconds to answer, or not at all.
		a.goBackground(a.bg, func(ctx context.Context) { probeIdentity(ctx, own, cfg.Timeouts.IdentityProbe, a.log) })
		sc.ServiceCredentials = own
	}
	sp, err := spot.New(sc)
	if err != nil {
		return nil, fmt.Errorf("AWS client: %w", err)
	}
	return sp, nil
}

// awsTransport keeps enough idle connections per endpoint for every task in
// flight: the default two means each concurrent AWS call past the second
// dials (and handshakes TLS with) EC2 or STS again.
func awsTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	return t
}

// observeTask feeds task outcomes into the metrics.
func observeTask(m *metrics.Metrics) func(name, outcome string, res task.Result) {
	return func(name, outcome string, res task.Result) {
		m.Tasks.WithLabelValues(name, outcome).Inc()
		if l := res.Launch; l != nil && !l.DryRun && !l.Replayed {
			for _, in := range l.Instances {
				m.Launched.WithLabelValues(in.Lifecycle).Inc()
			}
		}
		if s := res.Status; s != nil && len(s.Instances) > 0 {
			observeStatus(m, s)
		}
	}
}

// observeStatus sets a token's running and cost gauges from a status reply.
func observeStatus(m *metrics.Metrics, s *spot.StatusResult) {
	tok := s.Instances[0].Tag(spot.TagToken)
	live := 0
	for _, in := range s.Instances {
		if in.State == "pending" || in.State == "running" {
			live++
		}
	}
	if tok != "" {
		m.Running.WithLabelValues(tok).Set(float64(live))
		m.HourlyCost.WithLabelValues(tok).Set(s.HourlyCost.Dollars())
	}
}
