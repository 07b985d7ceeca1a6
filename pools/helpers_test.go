package pools_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/storetest"

	"github.com/spotter-dev/spotter/api"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

type store interface {
	secrets.Store
	secrets.KeyRing
}

// logBuffer is output a test reads while the code under test writes it.
type logBuffer = e2e.Log

// backends are both stores: the embedded file and a real Vault with
// mounts of its own (skipped without VAULT_ADDR unless
// SPOTTER_REQUIRE_VAULT=1).
func backends() map[string]func(t *testing.T, log *slog.Logger) store {
	return map[string]func(t *testing.T, log *slog.Logger) store{
		"embedded": func(t *testing.T, log *slog.Logger) store {
			s, _ := storetest.Embedded(t, log)
			return s
		},
		"vault": func(t *testing.T, log *slog.Logger) store { return storetest.Vault(t, "pools", log) },
	}
}

// fixture is a pools registry over a real capability registry, with the
// tokens a pool may or may not run on.
type fixture struct {
	st    store
	clk   *testclock.Clock
	logs  *logBuffer
	caps  *capability.Registry
	reg   *pools.Registry
	toks  map[string]string // kind → token id
	creds []string          // every credential secret registered
}

const (
	testAKID   = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// poolPolicy allows what linuxCI needs and no more.
func poolPolicy() *api.Policy {
	return &api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"},
		MaxCount: 10, MaxRunning: 50, MaxPrice: 0.5, MaxTTL: api.Duration(12 * time.Hour)}
}

func newFixture(t *testing.T, open func(t *testing.T, log *slog.Logger) store) *fixture {
	t.Helper()
	f := &fixture{clk: testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)), logs: &logBuffer{}, toks: map[string]string{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.st = open(t, log)
	auth, err := token.NewAuthority(f.st, token.Config{Issuer: "spotter", Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.caps, err = capability.New(capability.Config{Store: f.st, Authority: auth, Logger: log, Now: f.clk.Now, PublicURL: "https://spotter.test"})
	if err != nil {
		t.Fatal(err)
	}
	f.reg, err = pools.New(pools.Config{Store: f.st, Authority: auth, Tokens: f.caps, Logger: log, Now: f.clk.Now, PublicURL: "https://spotter.test/"})
	if err != nil {
		t.Fatal(err)
	}
	narrow := poolPolicy()
	narrow.InstanceTypes, narrow.MaxCount, narrow.MaxRunning = []string{"c6i.large"}, 5, 5
	for kind, in := range map[string]api.CreateTokenRequest{
		"plain":   {Policy: poolPolicy()},
		"awsmfa":  {Policy: poolPolicy(), MFA: &api.MFAInput{SerialNumber: "arn:aws:iam::123456789012:mfa/ops"}},
		"totp":    {Policy: poolPolicy(), MFA: &api.MFAInput{TOTP: true}},
		"narrow":  {Policy: narrow},
		"revoked": {Policy: poolPolicy()},
		"expires": {Policy: poolPolicy(), ExpiresIn: "1h"},
	} {
		secret := testSecret + "-" + kind
		in.Name, in.Credentials = kind, &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: secret}
		out, err := f.caps.Create(context.Background(), in)
		if err != nil {
			t.Fatalf("token %s: %v", kind, err)
		}
		f.toks[kind], f.creds = out.ID, append(f.creds, secret)
	}
	if _, err := f.caps.Revoke(context.Background(), f.toks["revoked"]); err != nil {
		t.Fatal(err)
	}
	return f
}

// linuxCI is the example pool, on token tok.
func linuxCI(tok string) pool.Pool {
	return pool.Pool{Name: "linux-ci", TokenID: tok, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2xlarge", Capacity: 4}},
		MaxCapacity:   50, ScalingRatio: 1, IdleTimeout: pool.Duration(10 * time.Minute), MaxLifetime: pool.Duration(12 * time.Hour),
		Labels: []string{"self-hosted", "linux"}}
}

var bg = context.Background()
