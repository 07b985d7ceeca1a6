package capability_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/storetest"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

type store interface {
	secrets.Store
	secrets.KeyRing
}

// logBuffer is output a test reads while the code under test writes it.
type logBuffer = e2e.Log

// backends returns both stores: the embedded file and a real Vault (with
// mounts of its own, removed at cleanup).
func backends(t *testing.T) map[string]func(t *testing.T, log *slog.Logger) store {
	return map[string]func(t *testing.T, log *slog.Logger) store{
		"embedded": func(t *testing.T, log *slog.Logger) store {
			s, _ := storetest.Embedded(t, log)
			return s
		},
		"vault": func(t *testing.T, log *slog.Logger) store { return storetest.Vault(t, "cap", log) },
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
