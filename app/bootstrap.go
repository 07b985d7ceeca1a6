package app

import (
	"context"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/spot"
)

// sweepEvery is how often expired bootstrap credentials are deleted; a
// late one is refused by its expiry whether swept or not.
const sweepEvery = 10 * time.Minute

// bootstrap is the pools' instance side: pool secrets and the hand-off,
// checked with the pool token's session and, when configured (or in the
// sandbox, from the emulator), the identity document's certificate.
func (a *App) bootstrap(st store, sp *spot.Client, audit *slog.Logger, minter bootstrap.Minter) (*bootstrap.Service, error) {
	cfg := bootstrap.Config{Store: st, Pools: a.pools, Instances: bootstrap.EC2{Tokens: a.reg, Spot: sp}, Minter: minter,
		PublicURL: a.cfg.publicURL(a.scheme), Logger: a.log.With("component", "bootstrap"), Audit: audit, Now: a.cfg.now()}
	if a.tls != nil && a.cfg.TLSCert == "" && len(a.tls.Certificates) > 0 && len(a.tls.Certificates[0].Certificate) > 0 {
		// Instances cannot know spotter's self-signed certificate: their
		// user data carries it (it is public).
		cfg.ServerCA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.tls.Certificates[0].Certificate[0]})
	}
	var pemText []byte
	switch {
	case a.cfg.IdentityCert != "":
		b, err := os.ReadFile(a.cfg.IdentityCert)
		if err != nil {
			return nil, fmt.Errorf("--identity-cert: %w", err)
		}
		pemText = b
	case a.sandbox != nil:
		b, err := a.sandbox.sim.IdentityCertificate()
		if err != nil {
			return nil, err
		}
		pemText = b
	}
	if pemText != nil {
		certs, err := bootstrap.ParseCertificates(pemText)
		if err != nil {
			return nil, fmt.Errorf("--identity-cert %s: %w", a.cfg.IdentityCert, err)
		}
		cfg.IdentityCerts = certs
	}
	svc, err := bootstrap.New(cfg)
	if err != nil {
		return nil, err
	}
	if a.cfg.Timeouts.ReaperInterval > 0 {
		a.goBackground(a.bg, func(ctx context.Context) {
			t := time.NewTicker(sweepEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if n, err := svc.Sweep(ctx); err != nil {
						a.log.Warn("bootstrap credential sweep failed", "error", err)
					} else if n > 0 {
						a.log.Info("expired bootstrap credentials deleted", "count", n)
					}
					if n, err := svc.SweepHeartbeats(ctx); err != nil {
						a.log.Warn("heartbeat credential sweep failed", "error", err)
					} else if n > 0 {
						a.log.Info("expired heartbeat credentials deleted", "count", n)
					}
				}
			}
		})
	}
	return svc, nil
}
