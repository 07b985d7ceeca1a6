package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spotter-dev/spotter/secrets"
)

// openStore picks the store: Vault when VAULT_ADDR is set (and not in the
// sandbox), else the embedded file store in the data dir.
func openStore(ctx context.Context, cfg serveConfig, log *slog.Logger) (secrets.Store, error) {
	if cfg.VaultAddr != "" && !cfg.Sandbox {
		return nil, errors.New("the Vault store is not wired yet")
	}
	if cfg.Sandbox && cfg.VaultAddr != "" {
		log.Info("sandbox ignores VAULT_ADDR and uses the embedded store")
	}
	var master []byte
	if cfg.MasterKey != "" {
		k, err := secrets.ParseMasterKey([]byte(cfg.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envMasterKey, err)
		}
		master = k
	}
	st, err := secrets.OpenEmbedded(cfg.DataDir, master, log)
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}
