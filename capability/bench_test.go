package capability_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/server"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// Benchmarks for the capability guard (issue 4): verifications per second
// with the record cache spotter runs with (2 s), and the store round trips
// each verified request costs when hot. Run them on both stores:
//
//	eval "$(scripts/vault-dev.sh start)"
//	go test -run '^$' -bench . -benchtime 2s ./capability/
//
// Without VAULT_ADDR the Vault cases are skipped (failed with
// SPOTTER_REQUIRE_VAULT=1).

// countingStore counts every call that reaches the store. With Vault each
// is one HTTP round trip; embedded, one bbolt transaction or AES operation.
type countingStore struct {
	store
	n atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (secrets.Record, error) {
	c.n.Add(1)
	return c.store.Get(ctx, key)
}

func (c *countingStore) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	c.n.Add(1)
	return c.store.Put(ctx, key, rec, cas)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.n.Add(1)
	return c.store.Delete(ctx, key)
}

func (c *countingStore) List(ctx context.Context, prefix string) ([]string, error) {
	c.n.Add(1)
	return c.store.List(ctx, prefix)
}

func (c *countingStore) Folders(ctx context.Context, prefix string) ([]string, error) {
	c.n.Add(1)
	return c.store.Folders(ctx, prefix)
}

func (c *countingStore) Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error) {
	c.n.Add(1)
	return c.store.Seal(ctx, scope, plaintext)
}

func (c *countingStore) Open(ctx context.Context, scope string, sealed []byte) ([]byte, error) {
	c.n.Add(1)
	return c.store.Open(ctx, scope, sealed)
}

func (c *countingStore) Ping(ctx context.Context) error {
	c.n.Add(1)
	return c.store.Ping(ctx)
}

func (c *countingStore) SigningKeyID(ctx context.Context) (string, error) {
	c.n.Add(1)
	return c.store.SigningKeyID(ctx)
}

func (c *countingStore) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	c.n.Add(1)
	return c.store.Sign(ctx, kid, msg)
}

func (c *countingStore) PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	c.n.Add(1)
	return c.store.PublicKeys(ctx)
}

func (c *countingStore) Rotate(ctx context.Context) (string, error) {
	c.n.Add(1)
	return c.store.Rotate(ctx)
}

// benchStores opens each store for a benchmark. backends in helpers_test.go
// takes a *testing.T; these take a *testing.B.
func benchStores() []struct {
	name string
	open func(b *testing.B) store
} {
	return []struct {
		name string
		open func(b *testing.B) store
	}{
		{"embedded", func(b *testing.B) store {
			s, err := secrets.OpenEmbedded(b.TempDir(), nil, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"vault", func(b *testing.B) store {
			srv := vaulttest.Shared(b)
			kv, transit := vaulttest.Unique("cap-bench-kv"), vaulttest.Unique("cap-bench-transit")
			s, err := secrets.NewVault(context.Background(), secrets.VaultConfig{
				Addr: srv.Addr, Token: srv.Token, KVMount: kv, TransitMount: transit, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				s.Close()
				c := srv.Client(b)
				_ = c.Sys().Unmount(kv)
				_ = c.Sys().Unmount(transit)
			})
			return s
		}},
	}
}

// benchRegistry is a registry as `spotter serve` builds it: real clock,
// default record cache (2 s), over a counting store.
func benchRegistry(b *testing.B, st store) (*capability.Registry, *countingStore) {
	b.Helper()
	cs := &countingStore{store: st}
	auth, err := token.NewAuthority(cs, token.Config{Issuer: "spotter"})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: cs, Authority: auth, PublicURL: "https://spotter.test"})
	if err != nil {
		b.Fatal(err)
	}
	return reg, cs
}

func benchCreate(b *testing.B, reg *capability.Registry, requireSignature bool) api.CreatedToken {
	b.Helper()
	c, err := reg.Create(context.Background(), api.CreateTokenRequest{
		Name:        "bench",
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
		Policy: &api.Policy{Regions: []string{"us-east-1"}, InstanceTypes: []string{"t3.micro"},
			AMIs: []string{"ami-12345678"}, Tasks: []string{"launch", "status"}},
		RequireSignature: requireSignature,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// report adds the per-second rate and the store calls per operation, made
// after the timer was reset (setup calls do not count).
func report(b *testing.B, cs *countingStore, before int64, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(float64(cs.n.Load()-before)/float64(b.N), "store-calls/op")
}

// BenchmarkAuthenticate is token verification as every task request starts
// it: the JWT (EdDSA, keys cached) and the record lookup (revocation,
// expiry, jti), cached 2 s. When hot it makes no store call; a record read
// every 2 s per token is what revocation-within-5-s costs.
func BenchmarkAuthenticate(b *testing.B) {
	for _, s := range benchStores() {
		b.Run(s.name, func(b *testing.B) {
			reg, cs := benchRegistry(b, s.open(b))
			c := benchCreate(b, reg, false)
			ctx := context.Background()
			if _, err := reg.Authenticate(ctx, c.Token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(4) // Vault calls wait on the network; keep both cores busy
			before := cs.n.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := reg.Authenticate(ctx, c.Token); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			report(b, cs, before, "verifies/s")
		})
	}
}

// BenchmarkGuard is the whole verification of a task request that goes on
// to AWS: Authenticate, the body signature (when the token requires one:
// opening the signing secret and recording the nonce with check-and-set),
// the MFA step (none here: a TOTP code is accepted once per 30 s, and AWS
// MFA is checked by STS), and opening the credentials for the call.
func BenchmarkGuard(b *testing.B) {
	for _, s := range benchStores() {
		for _, signed := range []bool{false, true} {
			name := s.name + "/plain"
			if signed {
				name = s.name + "/signed"
			}
			b.Run(name, func(b *testing.B) {
				reg, cs := benchRegistry(b, s.open(b))
				c := benchCreate(b, reg, signed)
				ctx := context.Background()
				var seq atomic.Int64
				guard := func() error {
					t, err := reg.Authenticate(ctx, c.Token)
					if err != nil {
						return err
					}
					header := ""
					// Each request is new: a signature is accepted once.
					body := []byte(`{"task":"launch","count":1,"idempotencyKey":"` + strconv.FormatInt(seq.Add(1), 10) + `"}`)
					if signed {
						header = token.Sign([]byte(c.SigningSecret), time.Now(), body)
					}
					if _, err := reg.CheckSignature(ctx, t, header, body); err != nil {
						return err
					}
					if err := reg.CheckMFA(ctx, t, ""); err != nil {
						return err
					}
					_, err = reg.Credentials(ctx, t)
					return err
				}
				if err := guard(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetParallelism(4)
				before := cs.n.Load()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := guard(); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				report(b, cs, before, "verifies/s")
			})
		}
	}
}

// BenchmarkStatusRequest is a whole guarded status task through the HTTP
// handler (Echo edge, middleware, guard, one DescribeInstances to awssim
// over loopback, JSON reply), without TLS.
func BenchmarkStatusRequest(b *testing.B) {
	sim := awssim.New(awssim.Options{Seed: 1})
	simSrv := httptest.NewServer(sim)
	b.Cleanup(simSrv.Close)
	for _, s := range benchStores() {
		b.Run(s.name, func(b *testing.B) {
			reg, cs := benchRegistry(b, s.open(b))
			c := benchCreate(b, reg, false)
			sp, err := spot.New(spot.Config{EC2Endpoint: simSrv.URL, STSEndpoint: simSrv.URL, PricingEndpoint: simSrv.URL, DefaultRegion: "us-east-1"})
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			admin, _, err := capability.NewAdmin(context.Background(), cs, strings.Repeat("a", capability.MinAdminTokenLen))
			if err != nil {
				b.Fatal(err)
			}
			h := server.New(server.Deps{Logger: log, Store: cs, Tokens: reg, Admin: admin, Keys: cs,
				Tasks: handlers.TaskDeps{Pipeline: &task.Pipeline{Tokens: reg, Spot: sp, Audit: log}, Tokens: reg}}, server.Options{})
			status := func() int {
				req := httptest.NewRequest(http.MethodPost, "/v1/tasks", strings.NewReader(`{"task":"status"}`))
				req.Header.Set("Authorization", "Bearer "+c.Token)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			if code := status(); code != http.StatusOK {
				b.Fatalf("status task = %d", code)
			}
			b.ReportAllocs()
			b.SetParallelism(4)
			before := cs.n.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if code := status(); code != http.StatusOK {
						b.Errorf("status task = %d", code)
						return
					}
				}
			})
			b.StopTimer()
			report(b, cs, before, "requests/s")
		})
	}
}
