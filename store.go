package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spotter-dev/spotter/secrets"
)

// store is what serve needs of a backend: records and sealing, plus the
// keys that sign capability tokens.
type store interface {
	secrets.Store
	secrets.KeyRing
}

// openStore picks the store: Vault when VAULT_ADDR is set (and not in the
// sandbox), else the embedded file store in the data dir.
func openStore(ctx context.Context, cfg serveConfig, log *slog.Logger) (store, error) {
	if cfg.VaultAddr != "" && !cfg.Sandbox {
		st, err := secrets.NewVault(ctx, secrets.VaultConfig{
			Addr: cfg.VaultAddr, Token: cfg.VaultToken,
			RoleID: cfg.VaultRoleID, SecretID: cfg.VaultSecretID,
			KVMount: cfg.VaultMount, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("connect to Vault at %s: %w", cfg.VaultAddr, err)
		}
		return st, nil
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
