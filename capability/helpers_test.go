package capability_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

type store interface {
	secrets.Store
	secrets.KeyRing
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// backends returns both stores: the embedded file and a real Vault (with
// mounts of its own, removed at cleanup).
func backends(t *testing.T) map[string]func(t *testing.T, log *slog.Logger) store {
	return map[string]func(t *testing.T, log *slog.Logger) store{
		"embedded": func(t *testing.T, log *slog.Logger) store {
			s, err := secrets.OpenEmbedded(t.TempDir(), nil, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"vault": func(t *testing.T, log *slog.Logger) store {
			srv := vaulttest.Shared(t)
			kv, transit := vaulttest.Unique("cap-kv"), vaulttest.Unique("cap-transit")
			s, err := secrets.NewVault(context.Background(), secrets.VaultConfig{
				Addr: srv.Addr, Token: srv.Token, KVMount: kv, TransitMount: transit, Logger: log,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.Close()
				c := srv.Client(t)
				_ = c.Sys().Unmount(kv)
				_ = c.Sys().Unmount(transit)
			})
			return s
		},
	}
}

// clock is the shared settable test clock.
type clock = testclock.Clock

func newRegistry(t testing.TB, st store, clk *clock, log *slog.Logger) *capability.Registry {
	t.Helper()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, Logger: log, Now: clk.Now,
		PublicURL: "https://spotter.test", CacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func launchPolicy() *api.Policy {
	return &api.Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-12345678"}}
}

const (
	testAKID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)
