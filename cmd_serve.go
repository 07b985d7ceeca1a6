package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/spotter-dev/spotter/activity"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/pages"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	cfg.self = selfCommand(os.Args[0])
	return serve(ctx, cfg, log, stdout, nil)
}

// serve runs the service until ctx ends. ready, if set, gets the bound address
// (tests listen on port 0).
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, stdout io.Writer, ready func(net.Addr)) error {
	// The port first: a start that cannot listen must leave no master key,
	// certificate or data dir behind.
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	// With --addr :0 the port is known only now; capability URLs need it.
	if cfg.PublicURL == "" {
		cfg.Addr = ln.Addr().String()
	}

	if cfg.DataDir == "" {
		if cfg.Sandbox {
			dir, err := os.MkdirTemp("", "spotter-sandbox-")
			if err != nil {
				return fmt.Errorf("sandbox data dir: %w", err)
			}
			defer os.RemoveAll(dir)
			cfg.DataDir, cfg.tempDataDir = dir, true
		} else {
			cfg.DataDir = defaultDataDir(os.Getenv)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	if err := checkDataDir(cfg.DataDir); err != nil {
		return err
	}

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	m := metrics.New()
	var store store = timedStore{store: st, m: m}
	// The console's recent events per token are read off the audit log.
	act := activity.New(store, log.With("component", "activity"), nil)
	defer act.Close()
	log = slog.New(act.Tee(log.Handler()))

	var tlsConf *tls.Config
	scheme := "http"
	if !cfg.Sandbox {
		scheme = "https"
		tlsConf, err = loadTLS(cfg, log)
		if err != nil {
			return err
		}
	}

	auth, err := token.NewAuthority(store, token.Config{Issuer: "spotter"})
	if err != nil {
		return fmt.Errorf("token authority: %w", err)
	}
	admin, generated, err := capability.NewAdmin(ctx, store, cfg.AdminToken)
	if err != nil {
		return err
	}
	reg, err := capability.New(capability.Config{
		Store: store, Authority: auth, Logger: log,
		PublicURL: cfg.publicURL(scheme), DefaultRegion: cfg.Region,
		DefaultExpiresIn: cfg.TokenTTL, ObserveMFA: m.ObserveMFA,
	})
	if err != nil {
		return err
	}
	var sandbox *sandboxAWS
	if cfg.Sandbox {
		if sandbox, err = startSandboxAWS(log); err != nil {
			return err
		}
		defer sandbox.Close()
	}
	if generated != "" && !cfg.Sandbox {
		// Printed once, on stdout rather than the log, and never again: it is
		// kept sealed in the store.
		fmt.Fprintf(stdout, "admin token (shown once; keep it, e.g. export SPOTTER_ADMIN_TOKEN=...):\n  %s\n", generated)
	}

	sp, err := newSpot(ctx, cfg, log, sandbox, m)
	if err != nil {
		return err
	}
	background := &handlers.Background{Log: log.With("component", "background")}
	audit := log.With("log", "audit")
	// A flood of refusals writes a line and a count per minute and source;
	// the metrics count each. Counts still held are written at shutdown.
	refusals := handlers.NewRefusalLog(audit, 0, nil)
	defer refusals.Flush()
	// The embedded store is one process's file (bbolt locks it), so its
	// replica is alone and counts launches in memory; Vault may be shared
	// by replicas that come and go unannounced, so launches there reserve
	// capacity in the store.
	ledger := inflight.New(0, nil)
	if cfg.VaultAddr != "" && !cfg.Sandbox {
		ledger = inflight.NewShared(store, inflight.SharedOptions{Lease: cfg.LaunchLease, Log: log.With("component", "inflight")})
	}
	tasks := handlers.TaskDeps{Tokens: reg, Spot: sp, Audit: audit, Observe: observeTask(m), Refusals: refusals,
		Inflight: ledger, Background: background,
		Sources: handlers.SourceConfig{PublicURL: cfg.publicURL(scheme), SlackResponseURLs: cfg.SlackResponseURLs,
			Log: log.With("component", "sources")}}
	watch := act.WatchReaper(cfg.ReaperInterval)
	if cfg.ReaperInterval > 0 {
		rp := &reaper.Reaper{Tokens: reg, Spot: sp, Interval: cfg.ReaperInterval, Log: log.With("component", "reaper"),
			Observe: func(a spot.ReapAction) { m.ReaperEvents.WithLabelValues(a.Action, a.Reason).Inc() },
			Usage: func(id string, u spot.Usage) {
				m.Running.WithLabelValues(id).Set(float64(u.Running))
				m.HourlyCost.WithLabelValues(id).Set(u.HourlyCost.Dollars())
				watch.Usage(id, u)
			}, Passed: watch.Passed,
			Forget: func(id string) {
				m.Running.DeleteLabelValues(id)
				m.HourlyCost.DeleteLabelValues(id)
			}}
		rctx, stopReaper := context.WithCancel(ctx)
		defer stopReaper()
		go rp.Run(rctx)
	}

	console := &pages.ConsoleDeps{Store: store, Admin: admin, Tokens: reg, Activity: act, Reaping: cfg.ReaperInterval > 0, Audit: audit,
		Instances: (&reaper.Reaper{Tokens: reg, Spot: sp, Log: log.With("component", "console")}).Status}
	h := server.New(server.Deps{Logger: log, Store: store, Tokens: reg, Admin: admin, Keys: store, Tasks: tasks, Metrics: m, Console: console},
		server.Options{BodyLimit: cfg.BodyLimit})
	err = server.Serve(ctx, log, ln, h, tlsConf, cfg.ShutdownGrace, func(a net.Addr) {
		base := fmt.Sprintf("%s://%s", scheme, a)
		log.Info("spotter listening", "url", base, "sandbox", cfg.Sandbox, "data_dir", cfg.DataDir, "version", buildVersion())
		if sandbox != nil {
			plain, mfa, err := createDemoTokens(ctx, reg, sandbox)
			if err != nil {
				log.Error("sandbox demo tokens", "error", err)
			} else {
				printSandbox(stdout, sandboxBanner{base: base, dataDir: cfg.DataDir, temp: cfg.tempDataDir, admin: generated,
					self: cfg.self, aws: sandbox, plain: plain, mfa: mfa, policy: demoPolicy()})
			}
		}
		if ready != nil {
			ready(a)
		}
	})
	// Requests are answered; what they left running (Slack tasks) gets its
	// own grace, so no launch is cut off before its result is posted.
	wctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if !background.Wait(wctx) {
		log.Warn("shutdown: background tasks still running after the grace period were cut off", "grace", cfg.ShutdownGrace)
	}
	return err
}

// listen binds the address, saying what to do when it is taken.
func listen(cfg serveConfig) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		return nil, fmt.Errorf("listen on %s: the address is in use (another spotter?): pick a free port with --addr %s, or any free one with --addr %s",
			cfg.Addr, net.JoinHostPort(or(host, "127.0.0.1"), "8081"), net.JoinHostPort(or(host, "127.0.0.1"), "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return ln, nil
}

func loadTLS(cfg serveConfig, log *slog.Logger) (*tls.Config, error) {
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
	ss, err := server.LoadOrCreateCert(cfg.DataDir, hosts, time.Now())
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
func newSpot(ctx context.Context, cfg serveConfig, log *slog.Logger, sandbox *sandboxAWS, m *metrics.Metrics) (*spot.Client, error) {
	hc := &http.Client{Transport: m.Transport(awsTransport()), Timeout: 60 * time.Second}
	sc := spot.Config{
		HTTPClient:  hc,
		EC2Endpoint: cfg.EC2Endpoint, STSEndpoint: cfg.STSEndpoint, PricingEndpoint: cfg.PricingEndpoint,
		DefaultRegion: cfg.Region,
		Logger:        log.With("component", "spot"),
		// A waiting launch must answer inside the request timeout.
		WaitTimeout: 45 * time.Second,
	}
	if sandbox != nil {
		sc.EC2Endpoint, sc.STSEndpoint, sc.PricingEndpoint = sandbox.url, sandbox.url, sandbox.url
		sc.PollInterval = time.Second
		// The emulator's default user is the sandbox's own identity, so
		// tokens holding only a role work there too.
		sc.ServiceCredentials = spot.Static(spot.Credentials{AccessKeyID: awssim.DefaultAccessKeyID, SecretAccessKey: awssim.DefaultSecretAccessKey})
	} else {
		own, err := cfg.Identity.provider(ctx, cfg.Region)
		if err != nil {
			return nil, err
		}
		go probeIdentity(ctx, own, log) // instance metadata may take seconds to answer, or not at all
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
func observeTask(m *metrics.Metrics) func(task, outcome string, res handlers.Result) {
	return func(task, outcome string, res handlers.Result) {
		m.Tasks.WithLabelValues(task, outcome).Inc()
		if l := res.Launch; l != nil && !l.DryRun && !l.Replayed {
			for _, in := range l.Instances {
				m.Launched.WithLabelValues(in.Lifecycle).Inc()
			}
		}
		if s := res.Status; s != nil && len(s.Instances) > 0 {
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
	}
}
