// Package server is spotter's HTTP edge: Echo with request ids, redacting
// request logs, panic recovery, body limits, the one error-to-status table,
// TLS, and graceful shutdown. Handlers live in package handlers.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/labstack/gommon/bytes"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/metrics"
	"github.com/spotter-dev/spotter/pages"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources"
)

// Deps are what the routes need. Each handler maker takes only its own part.
type Deps struct {
	Logger *slog.Logger
	// Store answers /readyz.
	Store Pinger
	// Tokens is the capability registry; Admin checks the operator's token;
	// Keys rotates the token-signing key.
	Tokens *capability.Registry
	Admin  handlers.AdminChecker
	Keys   handlers.KeyRotator
	// Pools, if set, serves /v1/pools and pool demand, limited per pool
	// by DemandLimit (zero: handlers.DefaultDemandLimit).
	Pools       *pools.Registry
	DemandLimit handlers.DemandLimit
	// Bootstrap, if set, serves pool secrets and the instances' hand-off.
	Bootstrap *bootstrap.Service
	// Sources, with Pools, serves pool CI sources and their webhooks.
	Sources *sources.Service
	// Tasks serves the task endpoints; nil Tasks.Pipeline leaves them out.
	Tasks handlers.TaskDeps
	// Metrics, if set, counts requests and serves /metrics.
	Metrics *metrics.Metrics
	// Console, if set, serves the operator console under /ui/.
	Console *pages.ConsoleDeps
	// now is Options.Now, for the routes (the pages read it).
	now func() time.Time
}

// Pinger reports whether a backend answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options shape the edge.
type Options struct {
	// BodyLimit caps request bodies ("64K"); larger ones get 413 before any handler reads them.
	BodyLimit string
	// RequestTimeout bounds each handler's context.
	RequestTimeout time.Duration
	// RefusalLogEvery is the interval in which like refusals (one error
	// code on one route from one token or client) write one log line and
	// then one count (default 1m).
	RefusalLogEvery time.Duration
	// Now is the clock of the refusal log and the pages; nil is time.Now.
	Now func() time.Time
}

// DefaultOptions are what serve uses unless told otherwise.
var DefaultOptions = Options{BodyLimit: "64K", RequestTimeout: 60 * time.Second}

// New returns spotter's HTTP handler.
func New(deps Deps, opts Options) *echo.Echo {
	return build(deps, opts, addRoutes)
}

// build wires the edge around the routes that add registers; tests pass their own.
func build(deps Deps, opts Options, add func(*echo.Echo, Deps)) *echo.Echo {
	if opts.BodyLimit == "" {
		opts.BodyLimit = DefaultOptions.BodyLimit
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultOptions.RequestTimeout
	}
	limit, err := ParseBodyLimit(opts.BodyLimit)
	if err != nil {
		// serve validates the flag first; a caller passing nonsense is a bug.
		panic(err)
	}
	log := deps.Logger
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.JSONSerializer = plainJSON{}
	// No proxy is trusted by default: the client address is the peer address.
	e.IPExtractor = echo.ExtractIPDirect()
	routes := routeSet{}
	e.HTTPErrorHandler = errorHandler(log, routes, opts.BodyLimit, limit)
	refusals := newRefusalLog(log, opts.RefusalLogEvery, opts.Now)
	e.Use(withRequestID, securityHeaders, logRequests(log, routes, deps.Metrics, refusals), recoverPanics(log, routes),
		middleware.BodyLimit(opts.BodyLimit), middleware.ContextTimeout(opts.RequestTimeout))
	deps.now = opts.Now
	add(e, deps)
	for _, r := range e.Routes() {
		routes[r.Path] = true
	}
	return e
}

// ParseBodyLimit reads a body limit as Echo's BodyLimit does ("64K" is
// 64,000 bytes, "64KiB" 65,536), so the 413's details name what is enforced.
func ParseBodyLimit(s string) (int64, error) {
	n, err := bytes.Parse(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("body limit %q: want a size such as 64K (64,000 bytes) or 1MiB", s)
	}
	return n, nil
}

// Serve runs h on ln until ctx ends, then shuts down gracefully: in-flight
// requests get up to grace to finish. With tlsConf nil it serves plain HTTP.
// ready, if set, is called once the server is about to accept.
func Serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, tlsConf *tls.Config, grace time.Duration, ready func(net.Addr)) error {
	errLog := newServerErrorLog(log)
	defer errLog.handshakes.Flush()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Longer than the request timeout so a handler's own deadline answers first.
		WriteTimeout:   90 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		TLSConfig:      tlsConf,
		ErrorLog:       errLog.logger(),
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
