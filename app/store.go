package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
func openStore(ctx context.Context, cfg Config, tempDataDir bool, log *slog.Logger) (store, error) {
	if cfg.VaultAddr != "" && !cfg.Sandbox {
		st, err := secrets.NewVault(ctx, secrets.VaultConfig{
			Addr: cfg.VaultAddr, Addrs: cfg.VaultAddrs, CACert: cfg.VaultCACert, Token: cfg.VaultToken,
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
		// Checked here to name the variable; passed on as text, since
		// OpenEmbedded parses again and 32 decoded bytes are not always
		// 32 bytes once whitespace is trimmed.
		if _, err := secrets.ParseMasterKey([]byte(cfg.MasterKey)); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
		master = []byte(cfg.MasterKey)
	}
	if master == nil && tempDataDir {
		// A key file in a directory removed on exit protects nothing worth
		// backing up: keep the key in memory, and say nothing about backups.
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("sandbox master key: %w", err)
		}
		master = []byte(base64.StdEncoding.EncodeToString(raw))
	}
	st, err := secrets.OpenEmbedded(cfg.DataDir, master, log)
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return st, nil
}
