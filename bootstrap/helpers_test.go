package bootstrap_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/storetest"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
)

var bg = context.Background()

// logBuffer is output a test reads while the code under test writes it.
type logBuffer = e2e.Log

// backends are both stores: the embedded file (its directory returned,
// to read the raw file) and a real Vault (skipped without VAULT_ADDR
// unless SPOTTER_REQUIRE_VAULT=1).
func backends() map[string]func(t testing.TB, log *slog.Logger) (secrets.Store, string) {
	return map[string]func(t testing.TB, log *slog.Logger) (secrets.Store, string){
		"embedded": func(t testing.TB, log *slog.Logger) (secrets.Store, string) { return storetest.Embedded(t, log) },
		"vault": func(t testing.TB, log *slog.Logger) (secrets.Store, string) {
			return storetest.Vault(t, "boot", log), ""
		},
	}
}

// fakePools holds pool records by name.
type fakePools struct {
	mu   sync.Mutex
	recs map[string]pools.Record
}

func (f *fakePools) Get(_ context.Context, name string) (pools.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.recs[name]
	if !ok {
		return pools.Record{}, apperr.New(apperr.NotFound, "no pool %q", name)
	}
	return r, nil
}

// fakeEC2 answers DescribeInstances for one instance id from a map.
type fakeEC2 struct {
	mu    sync.Mutex
	ins   map[string]bootstrap.Instance
	calls int
	err   error
}

func (f *fakeEC2) Instance(_ context.Context, _ pool.Pool, id string) (bootstrap.Instance, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return bootstrap.Instance{}, false, f.err
	}
	in, ok := f.ins[id]
	return in, ok, nil
}

// signer is an identity-document key and its certificate, as awssim (or
// AWS, per Region) has.
type signer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newSigner(t testing.TB) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test identity"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, cert: c}
}

// sign returns an identity document for id and its base64 signature.
func (s signer) sign(t testing.TB, id, region string, pending time.Time) (string, string) {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{"instanceId": id, "region": region, "pendingTime": pending.UTC().Format(time.RFC3339),
		"accountId": "123456789012", "instanceType": "c6i.large", "imageId": "ami-0abc1234", "version": "2017-09-30"})
	sum := sha256.Sum256(doc)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return string(doc), base64.StdEncoding.EncodeToString(sig)
}

const (
	poolName = "linux-ci"
	tokenID  = "tok_abcdefghijklmnopqrst"
	launchCT = "sp-launch-one"
)

func ciPool() pool.Pool {
	return pool.Pool{Name: poolName, TokenID: tokenID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2xlarge", Capacity: 4}},
		MaxCapacity:   10, BootTimeout: pool.Duration(10 * time.Minute), MaxLifetime: pool.Duration(time.Hour),
		Bootstrap: pool.BootstrapBuildkite, Labels: []string{"queue:linux"}}
}

// fixture is a Service over a real store, a fake pool registry and a fake
// EC2 that knows the launch's instances.
type fixture struct {
	svc   *bootstrap.Service
	st    secrets.Store
	dir   string
	clk   *testclock.Clock
	logs  *logBuffer
	audit *logBuffer
	pools *fakePools
	ec2   *fakeEC2
	sig   signer
}

func newFixture(t testing.TB, open func(t testing.TB, log *slog.Logger) (secrets.Store, string), withIdentity bool) *fixture {
	t.Helper()
	f := &fixture{clk: testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)), logs: &logBuffer{}, audit: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.st, f.dir = open(t, log)
	f.pools = &fakePools{recs: map[string]pools.Record{poolName: {Pool: ciPool()}}}
	f.ec2 = &fakeEC2{ins: map[string]bootstrap.Instance{}}
	cfg := bootstrap.Config{Store: f.st, Pools: f.pools, Instances: f.ec2, PublicURL: "https://spotter.test/", Logger: log,
		Audit: slog.New(slog.NewJSONHandler(f.audit, nil)), Now: f.clk.Now}
	if withIdentity {
		f.sig = newSigner(t)
		cfg.IdentityCerts = []*x509.Certificate{f.sig.cert}
	}
	var err error
	if f.svc, err = bootstrap.New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// launched records an instance of the launch in the fake EC2, with the
// tags a pool launch puts on it.
func (f *fixture) launched(id, clientToken string, at time.Time) {
	f.ec2.mu.Lock()
	defer f.ec2.mu.Unlock()
	f.ec2.ins[id] = bootstrap.Instance{ID: id, Type: "c6i.2xlarge", State: "running", LaunchTime: at,
		Tags: map[string]string{"spotter:pool": poolName, "spotter:token": tokenID, "spotter:client-token": clientToken}}
}
