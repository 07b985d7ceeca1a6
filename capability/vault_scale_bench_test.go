package capability_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/reaper"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/spot"
	"github.com/spotter-dev/spotter/token"
)

// BenchmarkVaultTokens is issue 14's "100,000 tokens in Vault": with 100
// tokens and with SPOTTER_BENCH_TOKENS (default 10,000) in a private Vault
// dev server, the p50 and p99 of a token lookup, the same KV read through
// Vault's client alone (vault-read: Vault's share), token verification,
// and a launch's whole auth (verify, the body signature and its nonce
// write, the MFA step, open the credentials), each with the record cache
// off so every call reads Vault. Unless -short, it also logs how fast the
// tokens went in, what the reaper's store work takes (Walk over every
// page, opening each page's credentials with CredentialsOf, as reaper.Pass
// does) and Registry.List (every record), and ten timings of Vault's KV
// LISTs (the shard folders, one shard) and of a page of the token list.
// With SPOTTER_BENCH_KEEP=1 it fills the Vault of VAULT_ADDR once and
// reuses the fill (vault_scale_keep_test.go); -count 3 then interleaves
// the sizes.
//
//	SPOTTER_BENCH_TOKENS=100000 go test -run '^$' -bench VaultTokens -benchtime 1000x -timeout 30m ./capability/
//	SPOTTER_BENCH_KEEP=1 SPOTTER_BENCH_TOKENS=100000 go test -short -count 3 -run '^$' -bench VaultTokens -benchtime 2000x ./capability/
func BenchmarkVaultTokens(b *testing.B) {
	big := benchTokens(b)
	for _, n := range []int{100, big} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			c := setupScale(b, n, os.Getenv(envBenchKeep) == "1")
			if !testing.Short() {
				logWalks(b, c.vs.st, c.auth, c.reg, c.real, n)
			}
			benchLatencies(b, c)
		})
	}
}

// benchTokens is SPOTTER_BENCH_TOKENS, 10,000 if unset.
func benchTokens(b *testing.B) int {
	v := os.Getenv("SPOTTER_BENCH_TOKENS")
	if v == "" {
		return 10_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		b.Fatalf("SPOTTER_BENCH_TOKENS=%q: want a count of 100 or more", v)
	}
	return n
}

// scaleCase is one size's store, registry (record cache off) and real token.
type scaleCase struct {
	n    int
	vs   scaleStore
	auth *token.Authority
	reg  *capability.Registry
	real api.CreatedToken
}

func setupScale(b *testing.B, n int, keep bool) scaleCase {
	b.Helper()
	// A server of its own (or a kept mount, see envBenchKeep): the
	// records are not left on the shared one.
	vs := openBenchVault(b, n, keep)
	st := vs.st
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, PublicURL: "https://spotter.test",
		CacheTTL: time.Nanosecond})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// It requires a body signature, so a launch's auth writes a
	// nonce as a signed webhook's does.
	real, err := reg.Create(ctx, api.CreateTokenRequest{Name: "real", RequireSignature: true,
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
	if err != nil {
		b.Fatal(err)
	}
	vs.fill(b, real.ID, n)
	return scaleCase{n: n, vs: vs, auth: auth, reg: reg, real: real}
}

// logWalks times the reaper's store work, the full listing and the KV
// LISTs at this size, and logs them.
func logWalks(b *testing.B, st *secrets.Vault, auth *token.Authority, reg *capability.Registry, real api.CreatedToken, n int) {
	ctx := context.Background()
	// The reaper's store work, and the full listing: each is timed
	// once, a failure (the store's deadline) logged, not fatal.
	// With the default record cache, as a replica runs.
	served, err := capability.New(capability.Config{Store: st, Authority: auth, PublicURL: "https://spotter.test"})
	if err != nil {
		b.Fatal(err)
	}
	// Three reaper passes in a row against an EC2 that has nothing to
	// reap: the first reads every record, the next ones what Walk's
	// index re-reads (see index.go). Every token's account is the real
	// one's, so a warm pass opens one token's credentials.
	rp := &reaper.Reaper{Tokens: served, Spot: nopSpot{}, Log: slog.New(slog.DiscardHandler)}
	for _, label := range []string{"first (cold)", "second", "third"} {
		start := time.Now()
		if _, err := rp.Pass(ctx); err != nil {
			b.Logf("reaper pass %s over %d tokens FAILED after %v: %v", label, n, time.Since(start).Round(time.Millisecond), err)
			continue
		}
		b.Logf("reaper pass %s over %d tokens, its store work: %v", label, n, time.Since(start).Round(time.Millisecond))
	}
	// What the index holds between passes, as this process's live heap.
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	b.Logf("live heap with the index of %d tokens: %.1f MB", n, float64(mem.HeapAlloc)/1e6)
	// Before the index: every page read from the store and every token's
	// credentials opened, each pass.
	start := time.Now()
	read, opened := 0, 0
	for cursor := ""; ; {
		p, err := served.ListPage(ctx, cursor, capability.MaxPageSize)
		if err != nil {
			b.Logf("old pass FAILED after %v: %v", time.Since(start).Round(time.Millisecond), err)
			break
		}
		read += len(p.Tokens)
		_, errs := served.CredentialsOf(ctx, p.Tokens)
		for _, err := range errs {
			if err == nil {
				opened++
			}
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	b.Logf("a pass's store work as before the index (every record read, every token opened: %d, %d) over %d tokens: %v",
		read, opened, n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	walked := 0
	err = served.Walk(ctx, func(page []capability.Info) error { walked += len(page); return nil })
	if err != nil || walked != n {
		b.Fatalf("Walk = %d tokens, %v; want %d", walked, err, n)
	}
	b.Logf("Walk alone (warm) over %d tokens: %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	all, err := reg.List(ctx)
	switch {
	case err != nil:
		b.Logf("Registry.List FAILED after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case len(all) != n:
		b.Fatalf("List = %d tokens; want %d", len(all), n)
	default:
		b.Logf("Registry.List read all %d records in %v", n, time.Since(start).Round(time.Millisecond))
	}

	// Listings are timed a fixed number of times here, not b.N
	// times (a flat LIST cost seconds at 100,000), with failures
	// (the store's 5 s deadline) counted, not fatal.
	for _, l := range []struct {
		name string
		op   func() error
	}{
		{"KV LIST of the shard folders (tokens/)", func() error { _, err := st.Folders(ctx, "tokens/"); return err }},
		{"KV LIST of one shard", func() error { _, err := st.List(ctx, path.Dir(capability.StoreKey(real.ID))); return err }},
		{"ListPage (first page of 100)", func() error {
			p, err := reg.ListPage(ctx, "", capability.DefaultPageSize)
			if err == nil && len(p.Tokens) != min(n, capability.DefaultPageSize) {
				err = fmt.Errorf("page of %d", len(p.Tokens))
			}
			return err
		}},
	} {
		var lat []time.Duration
		var failed []error
		for range 10 {
			t0 := time.Now()
			if err := l.op(); err != nil {
				failed = append(failed, err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.Logf("%s with %d tokens: p50 %v, max %v over %d; %d failed %v", l.name, n,
			lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), len(lat), len(failed), failed)
	}

}

type namedOp struct {
	name string
	op   func() error
}

// scaleOps are the calls BenchmarkVaultTokens times, on c's store.
func scaleOps(b *testing.B, c scaleCase) []namedOp {
	ctx := context.Background()
	root := c.vs.srv.Client(b)
	reg, real := c.reg, c.real
	launches := 0
	return []namedOp{
		{"lookup", func() error { _, err := reg.Get(ctx, real.ID); return err }},
		{"vault-read", func() error {
			// The same KV read as a lookup's, through Vault's own client
			// alone: what Vault's side of a lookup costs at this size.
			_, err := root.Logical().ReadWithContext(ctx, c.vs.names.KVMount+"/data/"+capability.StoreKey(real.ID))
			return err
		}},
		{"verify", func() error { _, err := reg.Authenticate(ctx, real.Token); return err }},
		{"launch-auth", func() error {
			t, err := reg.Authenticate(ctx, real.Token)
			if err != nil {
				return err
			}
			launches++
			body := []byte(fmt.Sprintf(`{"task":"launch","n":%d}`, launches))
			if _, err := reg.CheckSignature(ctx, t, token.Sign([]byte(real.SigningSecret), time.Now(), body), body); err != nil {
				return err
			}
			if err := reg.CheckMFA(ctx, t, ""); err != nil {
				return err
			}
			_, err = reg.Credentials(ctx, t)
			return err
		}},
	}
}

// benchLatencies measures each op's p50 and p99 as sub-benchmarks.
func benchLatencies(b *testing.B, c scaleCase) {
	ops := scaleOps(b, c)
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if err := o.op(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// nopSpot is an EC2 with nothing to reap, so a reaper pass is its store work.
type nopSpot struct{}

func (nopSpot) Session(context.Context, string, spot.Credentials, spot.MFA, string) (aws.CredentialsProvider, error) {
	return aws.AnonymousCredentials{}, nil
}
func (nopSpot) Reap(context.Context, aws.CredentialsProvider, string, time.Time, func(string) bool) (spot.ReapReport, error) {
	return spot.ReapReport{}, nil
}
func (nopSpot) Status(context.Context, aws.CredentialsProvider, string, string, []string) (spot.StatusResult, error) {
	return spot.StatusResult{}, nil
}
func (nopSpot) ExpandTypes(_ context.Context, _ aws.CredentialsProvider, _ string, l []string) ([]string, []string, error) {
	return l, nil, nil
}
func (nopSpot) Replace(context.Context, aws.CredentialsProvider, string, string, string, []string, spot.Caps) (spot.Instance, bool, error) {
	return spot.Instance{}, false, nil
}
