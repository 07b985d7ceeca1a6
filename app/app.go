// Package app wires `spotter serve`: one constructor, New, builds the
// store, token authority, registry, AWS client, reaper and HTTP edge from
// a Config; Run serves until its context ends; Close owns the lifecycle,
// stopping and waiting for every goroutine New started before it closes
// what they use.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/server"
)

// App is a wired spotter serve: listening, not yet serving.
type App struct {
	cfg    Config
	log    *slog.Logger
	stdout io.Writer
	ln     net.Listener
	scheme string
	tls    *tls.Config
	h      http.Handler

	reg        *capability.Registry
	pools      *pools.Registry
	boot       *bootstrap.Service
	sandbox    *sandboxAWS
	generated  string // the admin token New made, "" when given
	background *handlers.Background
	// tempDataDir is set when the sandbox made its data dir: it is
	// removed on Close, so nothing in it needs keeping.
	tempDataDir bool

	// bg is the context of the goroutines New started (the reaper, the
	// identity probe); cancel ends it and wg waits for them. closers run
	// after, last first.
	bg        context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closers   []func() error
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, binds the listener and builds everything serve runs.
// The goroutines it starts live until ctx ends or Close is called; call
// Close once done with the App (after Run has returned). A New that fails
// has already undone what it did and returns a nil App. stdout gets what
// the operator must see once (a generated admin token, the sandbox's
// banner); log gets the rest.
func New(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, stdout: stdout}
	a.bg, a.cancel = context.WithCancel(ctx)
	if err := a.build(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// build does New's work in order, each step registering what Close undoes.
func (a *App) build(ctx context.Context) error {
	// The port first: a start that cannot listen must leave no master key,
	// certificate or data dir behind.
	if err := a.listen(); err != nil {
		return err
	}
	if err := a.prepareDataDir(); err != nil {
		return err
	}
	st, err := openStore(ctx, a.cfg, a.tempDataDir, a.log)
	if err != nil {
		return err
	}
	a.onClose(st.Close)
	a.scheme = "http"
	if !a.cfg.Sandbox {
		a.scheme = "https"
		if a.tls, err = loadTLS(a.cfg, a.log); err != nil {
			return err
		}
	}
	return a.wire(ctx, st)
}

// Addr is the address the listener is bound to (the port, with :0).
func (a *App) Addr() net.Addr { return a.ln.Addr() }

// Run serves until ctx ends, then gives in-flight requests and then the
// background tasks they left (Slack results) the shutdown grace each.
// ready, if set, gets the bound address once the server answers.
func (a *App) Run(ctx context.Context, ready func(net.Addr)) error {
	grace := a.cfg.Timeouts.ShutdownGrace
	err := server.Serve(ctx, a.log, a.ln, a.h, a.tls, grace, func(addr net.Addr) {
		a.announce(ctx, addr)
		if ready != nil {
			ready(addr)
		}
	})
	// Requests are answered; what they left running (Slack tasks) gets its
	// own grace, so no launch is cut off before its result is posted.
	wctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if !a.background.Wait(wctx) {
		a.log.Warn("shutdown: background tasks still running after the grace period were cut off", "grace", grace)
	}
	return err
}

// announce logs where spotter listens and, in the sandbox, prints the
// demo tokens and the lines to paste.
func (a *App) announce(ctx context.Context, addr net.Addr) {
	base := fmt.Sprintf("%s://%s", a.scheme, addr)
	a.log.Info("spotter listening", "url", base, "sandbox", a.cfg.Sandbox, "data_dir", a.cfg.DataDir, "version", a.cfg.Version)
	if a.sandbox == nil {
		return
	}
	plain, mfa, err := createDemoTokens(ctx, a.reg, a.sandbox)
	if err != nil {
		a.log.Error("sandbox demo tokens", "error", err)
		return
	}
	printSandbox(a.stdout, sandboxBanner{base: base, dataDir: a.cfg.DataDir, temp: a.tempDataDir, admin: a.generated,
		self: a.cfg.Self, aws: a.sandbox, plain: plain, mfa: mfa, policy: demoPolicy()})
}

// Close stops the goroutines New started and waits until they have ended,
// then closes what they used (the emulator, the store, the listener), last
// opened first. It is safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		var errs []error
		for i := len(a.closers) - 1; i >= 0; i-- {
			errs = append(errs, a.closers[i]())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// onClose registers f for Close.
func (a *App) onClose(f func() error) { a.closers = append(a.closers, f) }

// goBackground runs f in a goroutine that Close cancels and waits for.
func (a *App) goBackground(ctx context.Context, f func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f(ctx)
	}()
}

// listen binds the address, saying what to do when it is taken.
func (a *App) listen() error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(a.cfg.Addr)
		return fmt.Errorf("listen on %s: the address is in use (another spotter?): pick a free port with --addr %s, or any free one with --addr %s",
			a.cfg.Addr, net.JoinHostPort(cmp.Or(host, "127.0.0.1"), "8081"), net.JoinHostPort(cmp.Or(host, "127.0.0.1"), "0"))
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	a.ln = ln
	a.onClose(func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	// With --addr :0 the port is known only now; capability URLs need it.
	if a.cfg.PublicURL == "" {
		a.cfg.Addr = ln.Addr().String()
	}
	return nil
}

// prepareDataDir makes the data dir (the sandbox's own temporary one when
// none is named) the owner's, and refuses one others can read.
func (a *App) prepareDataDir() error {
	if a.cfg.DataDir == "" && a.cfg.Sandbox {
		dir, err := os.MkdirTemp("", "spotter-sandbox-")
		if err != nil {
			return fmt.Errorf("sandbox data dir: %w", err)
		}
		a.onClose(func() error { return os.RemoveAll(dir) })
		a.cfg.DataDir, a.tempDataDir = dir, true
	}
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", a.cfg.DataDir, err)
	}
	return checkDataDir(a.cfg.DataDir)
}
