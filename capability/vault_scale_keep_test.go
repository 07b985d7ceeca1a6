package capability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/deploy"
	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// envBenchKeep, set to 1, makes BenchmarkVaultTokens fill the Vault of
// VAULT_ADDR instead of a private server, on mounts it keeps
// ("bench-tokens-<n>"), so a later run finds the copies there and skips the
// fill (100,000 takes minutes on a shared host). Both sizes then share one
// Vault process, its heap and its GC: only the mount's size differs.
const envBenchKeep = "SPOTTER_BENCH_KEEP"

// fillMarkKey records a kept mount's fill: how many tokens it holds and
// the id of the last run's real token, deleted by the next run, which
// creates its own (its raw token was never stored).
const fillMarkKey = "bench/fill"

// envPairedPrivate puts BenchmarkVaultTokensPaired's small size on a
// private server.
const envPairedPrivate = "SPOTTER_BENCH_SMALL_PRIVATE"

// envPairedIndex keeps the big size's reaper index (Registry.Walk) in the
// benchmark's heap while BenchmarkVaultTokensPaired times the calls.
const envPairedIndex = "SPOTTER_BENCH_WITH_INDEX"

type fillMark struct {
	N    int    `json:"n"`
	Real string `json:"real"`
}

// scaleStore is a Vault store for BenchmarkVaultTokens: private and empty,
// or kept (see envBenchKeep) and perhaps filled by an earlier run.
type scaleStore struct {
	st     *secrets.Vault
	srv    vaulttest.Server
	names  deploy.VaultNames
	kept   bool
	filled *fillMark // a kept mount's earlier fill, if any
}

func openBenchVault(b *testing.B, n int, keep bool) scaleStore {
	b.Helper()
	if !keep {
		srv := vaulttest.Start(b)
		st, names := openScaleVault(b, srv)
		return scaleStore{st: st, srv: srv, names: names}
	}
	srv := vaulttest.Shared(b)
	names := deploy.VaultNames{KVMount: fmt.Sprintf("bench-tokens-%d", n), TransitMount: "transit",
		KeyName: "bench-tokens-cred", SigningKeyName: "bench-tokens-sign"}
	root := srv.Client(b)
	provisionKept(b, root, names)
	rules, err := deploy.VaultPolicy(names)
	if err != nil {
		b.Fatal(err)
	}
	tok := srv.TokenWithPolicy(b, deploy.FormatPolicy(rules))
	st, err := secrets.NewVault(context.Background(), secrets.VaultConfig{Addr: srv.Addr, Token: tok,
		KVMount: names.KVMount, TransitMount: names.TransitMount, KeyName: names.KeyName, SigningKeyName: names.SigningKeyName,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	out := scaleStore{st: st, srv: srv, names: names, kept: true}
	rec, err := st.Get(context.Background(), fillMarkKey)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
	case err != nil:
		b.Fatal(err)
	default:
		var m fillMark
		if err := json.Unmarshal(rec.Public, &m); err != nil || m.N != n {
			b.Fatalf("%s in %s is %q; want a fill of %d (unmount %s to start over)", fillMarkKey, names.KVMount, rec.Public, n, names.KVMount)
		}
		out.filled = &m
	}
	return out
}

// provisionKept makes the kept mount and keys if they are missing; unlike
// vaulttest.Provision it removes nothing at cleanup.
func provisionKept(b *testing.B, root *api.Client, n deploy.VaultNames) {
	b.Helper()
	for path, typ := range map[string]string{n.KVMount: "kv", n.TransitMount: "transit"} {
		in := &api.MountInput{Type: typ}
		if typ == "kv" {
			in.Options = map[string]string{"version": "2"}
		}
		err := root.Sys().Mount(path, in)
		var re *api.ResponseError
		if err != nil && !(errors.As(err, &re) && strings.Contains(strings.Join(re.Errors, " "), "already in use")) {
			b.Fatalf("mount %s: %v", path, err)
		}
	}
	for name, params := range map[string]map[string]any{
		n.KeyName:        {"type": "aes256-gcm96", "derived": true},
		n.SigningKeyName: {"type": "ed25519"},
	} {
		path := n.TransitMount + "/keys/" + name
		if s, err := root.Logical().Read(path); err == nil && s != nil {
			continue
		}
		if _, err := root.Logical().Write(path, params); err != nil {
			b.Fatalf("create %s: %v", path, err)
		}
	}
}

// fill makes the store hold n tokens, realID's record among them: copies
// of it under made-up ids, unless a kept mount already holds them, in
// which case the last run's real token is replaced by realID's.
func (s scaleStore) fill(b *testing.B, realID string, n int) {
	b.Helper()
	ctx := context.Background()
	if s.filled != nil {
		if err := s.st.Delete(ctx, capability.StoreKey(s.filled.Real)); err != nil {
			b.Fatal(err)
		}
		b.Logf("reused the %d tokens of %s", n, s.names.KVMount)
	} else {
		took := fillTokens(b, s.st, realID, n, 16)
		b.Logf("stored %d tokens in %v: %.0f/s", n-1, took.Round(1e6), float64(n-1)/took.Seconds())
	}
	if !s.kept {
		return
	}
	mark, _ := json.Marshal(fillMark{N: n, Real: realID})
	if _, err := s.st.Put(ctx, fillMarkKey, secrets.Record{Public: mark}, secrets.AnyVersion); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVaultTokensPaired measures what BenchmarkVaultTokens does, with
// 100 and SPOTTER_BENCH_TOKENS tokens (it runs only when that is set),
// taking turns call by call: the two sizes are kept mounts on the one
// Vault of VAULT_ADDR (as with SPOTTER_BENCH_KEEP=1), so a burst of load on a shared host hits both alike and the
// p99 ratio (p99-ratio: big over small) is the size's alone.
//
// With SPOTTER_BENCH_WITH_INDEX=1 the process holds the big size's
// reaper index meanwhile, as a replica running the reaper does: both
// sizes then pay for it, so compare their p99s with a run without it.
// With SPOTTER_BENCH_SMALL_PRIVATE=1 the 100 are on a private server of
// their own instead: the ratio then takes in Vault's own growth (its heap
// and GC holding 100,000 records), the sizes still taking turns.
//
//	SPOTTER_BENCH_TOKENS=100000 go test -run '^$' -bench VaultTokensPaired -benchtime 4000x -count 3 ./capability/
func BenchmarkVaultTokensPaired(b *testing.B) {
	if os.Getenv("SPOTTER_BENCH_TOKENS") == "" {
		// It leaves its fills on the Vault of VAULT_ADDR: only when asked.
		b.Skip("set SPOTTER_BENCH_TOKENS (e.g. 100000): the paired benchmark keeps its fill on the Vault of VAULT_ADDR")
	}
	big := benchTokens(b)
	small, large := setupScale(b, 100, os.Getenv(envPairedPrivate) != "1"), setupScale(b, big, true)
	smallOps, largeOps := scaleOps(b, small), scaleOps(b, large)
	if os.Getenv(envPairedIndex) == "1" {
		// The big size's reaper index in this process's heap, as a replica
		// that runs the reaper holds it: its garbage collector scans it
		// while both sizes are timed.
		served, err := capability.New(capability.Config{Store: large.vs.st, Authority: large.auth})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := served.Walk(context.Background(), func([]capability.Info) error { return nil }); err != nil {
			b.Fatal(err)
		}
		b.Logf("reaper index of %d tokens built in %v", big, time.Since(start).Round(time.Millisecond))
		defer runtime.KeepAlive(served)
	}
	for i := range smallOps {
		b.Run(smallOps[i].name, func(b *testing.B) {
			var lat [2][]time.Duration
			turn := 0
			for b.Loop() {
				op := smallOps[i].op
				if turn == 1 {
					op = largeOps[i].op
				}
				t0 := time.Now()
				if err := op(); err != nil {
					b.Fatal(err)
				}
				lat[turn] = append(lat[turn], time.Since(t0))
				turn = 1 - turn
			}
			for s, name := range []string{"small", "big"} {
				slices.Sort(lat[s])
				b.ReportMetric(ms(lat[s][len(lat[s])/2]), name+"-p50-ms")
				b.ReportMetric(ms(lat[s][len(lat[s])*99/100]), name+"-p99-ms")
			}
			b.ReportMetric(float64(lat[1][len(lat[1])*99/100])/float64(lat[0][len(lat[0])*99/100]), "p99-ratio")
		})
	}
}
