package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/secrets"
)

// fixture is one store under test, with a way to read what it really wrote.
type fixture struct {
	store secrets.Store
	keys  secrets.KeyRing
	// raw returns the bytes the backend holds for key, read around the store
	// (the bbolt file, or Vault's KV over plain HTTP).
	raw func(t testing.TB, key string) []byte
}

// implementation opens a fresh store for one test; cleanup is registered on t.
type implementation struct {
	name string
	open func(t testing.TB) fixture
}

func implementations() []implementation {
	return []implementation{
		{name: "embedded", open: openEmbeddedFixture},
		{name: "vault", open: openVaultFixture},
		{name: "vault-cluster", open: openClusterFixture},
	}
}

func openEmbeddedFixture(t testing.TB) fixture {
	t.Helper()
	dir := t.TempDir()
	e, err := secrets.OpenEmbedded(dir, nil, testLogger(t))
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return fixture{
		store: e,
		keys:  e,
		raw: func(t testing.TB, _ string) []byte {
			// The whole file: the plaintext must not be anywhere in it.
			b, err := os.ReadFile(filepath.Join(dir, "spotter.db"))
			if err != nil {
				t.Fatalf("read embedded file: %v", err)
			}
			return b
		},
	}
}

// contractCase is one property every Store must have. Cases share a
// fixture, so each uses keys under its own folder, k(t, …).
type contractCase struct {
	name string
	run  func(t *testing.T, f fixture)
}

// k returns a key unique to the running subtest.
func k(t *testing.T, rest string) string {
	return fmt.Sprintf("c%x/%s", t.Name(), rest)
}

var bg = context.Background()

func mustPut(t *testing.T, s secrets.Store, key string, rec secrets.Record, cas int) int {
	t.Helper()
	v, err := s.Put(bg, key, rec, cas)
	if err != nil {
		t.Fatalf("Put(%q, cas=%d): %v", key, cas, err)
	}
	return v
}

// contractCases are the store cases, the sealing and keyring cases
// (contract_seal_test.go), then ping.
func contractCases() []contractCase {
	cases := append(storeCases(), sealCases()...)
	return append(cases, []contractCase{
		{name: "ping", run: func(t *testing.T, f fixture) {
			if err := f.store.Ping(bg); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}...)
}

// storeCases: records, versions, compare-and-swap, listing and keys.
func storeCases() []contractCase {
	return []contractCase{
		{name: "get missing is ErrNotFound", run: func(t *testing.T, f fixture) {
			_, err := f.store.Get(bg, k(t, "nothing"))
			if !errors.Is(err, secrets.ErrNotFound) {
				t.Fatalf("Get(missing) = %v; want ErrNotFound", err)
			}
		}},
		{name: "put then get round trip", run: func(t *testing.T, f fixture) {
			key := k(t, "rec")
			want := secrets.Record{Public: []byte(`{"name":"ci"}`)}
			if v := mustPut(t, f.store, key, want, secrets.CreateOnly); v != 1 {
				t.Fatalf("first Put version = %d; want 1", v)
			}
			got, err := f.store.Get(bg, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got.Public, want.Public) || len(got.Sealed) != 0 || got.Version != 1 {
				t.Fatalf("Get = %+v; want public %q, no sealed, version 1", got, want.Public)
			}
		}},
		{name: "create-only twice is ErrConflict", run: func(t *testing.T, f fixture) {
			key := k(t, "once")
			mustPut(t, f.store, key, secrets.Record{Public: []byte("a")}, secrets.CreateOnly)
			_, err := f.store.Put(bg, key, secrets.Record{Public: []byte("b")}, secrets.CreateOnly)
			if !errors.Is(err, secrets.ErrConflict) {
				t.Fatalf("second create-only Put = %v; want ErrConflict", err)
			}
			got, _ := f.store.Get(bg, key)
			if string(got.Public) != "a" {
				t.Fatalf("after refused Put, public = %q; want %q", got.Public, "a")
			}
		}},
		{name: "stale cas is ErrConflict, current cas and any-version win", run: func(t *testing.T, f fixture) {
			key := k(t, "cas")
			v1 := mustPut(t, f.store, key, secrets.Record{Public: []byte("1")}, secrets.CreateOnly)
			v2 := mustPut(t, f.store, key, secrets.Record{Public: []byte("2")}, v1)
			if v2 != v1+1 {
				t.Fatalf("Put(cas=%d) version = %d; want %d", v1, v2, v1+1)
			}
			if _, err := f.store.Put(bg, key, secrets.Record{Public: []byte("x")}, v1); !errors.Is(err, secrets.ErrConflict) {
				t.Fatalf("Put(stale cas=%d) = %v; want ErrConflict", v1, err)
			}
			if _, err := f.store.Put(bg, key, secrets.Record{Public: []byte("x")}, v2+5); !errors.Is(err, secrets.ErrConflict) {
				t.Fatalf("Put(future cas=%d) = %v; want ErrConflict", v2+5, err)
			}
			v3 := mustPut(t, f.store, key, secrets.Record{Public: []byte("3")}, secrets.AnyVersion)
			got, err := f.store.Get(bg, key)
			if err != nil || string(got.Public) != "3" || got.Version != v3 || v3 != 3 {
				t.Fatalf("Get after AnyVersion Put = %+v, %v; want public 3 version 3", got, err)
			}
		}},
		{name: "concurrent cas: exactly one writer wins per version", run: func(t *testing.T, f fixture) {
			key := k(t, "race")
			version := mustPut(t, f.store, key, secrets.Record{Public: []byte("0")}, secrets.CreateOnly)
			const writers = 8
			for round := range 3 {
				var (
					wg                  sync.WaitGroup
					mu                  sync.Mutex
					wins, conflicts     int
					winner, newVersions []int
				)
				for w := range writers {
					wg.Go(func() {
						v, err := f.store.Put(bg, key, secrets.Record{Public: fmt.Appendf(nil, "%d", w)}, version)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							wins++
							winner = append(winner, w)
							newVersions = append(newVersions, v)
						case errors.Is(err, secrets.ErrConflict):
							conflicts++
						default:
							t.Errorf("round %d writer %d: Put = %v; want nil or ErrConflict", round, w, err)
						}
					})
				}
				wg.Wait()
				if wins != 1 || conflicts != writers-1 {
					t.Fatalf("round %d: %d wins, %d conflicts; want 1 and %d", round, wins, conflicts, writers-1)
				}
				got, err := f.store.Get(bg, key)
				if err != nil || got.Version != newVersions[0] || string(got.Public) != fmt.Sprint(winner[0]) {
					t.Fatalf("round %d: Get = %+v, %v; want the winner %d at version %d", round, got, err, winner[0], newVersions[0])
				}
				version = got.Version
			}
		}},
		{name: "list returns direct children, sorted", run: func(t *testing.T, f fixture) {
			for _, name := range []string{"b", "a", "c", "sub/deep"} {
				mustPut(t, f.store, k(t, "dir/"+name), secrets.Record{Public: []byte(name)}, secrets.CreateOnly)
			}
			want := []string{k(t, "dir/a"), k(t, "dir/b"), k(t, "dir/c")}
			for _, prefix := range []string{k(t, "dir/"), k(t, "dir")} {
				got, err := f.store.List(bg, prefix)
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("List(%q) = %q, %v; want %q", prefix, got, err, want)
				}
			}
			got, err := f.store.List(bg, k(t, "empty/"))
			if err != nil || len(got) != 0 {
				t.Fatalf("List(empty folder) = %q, %v; want none", got, err)
			}
		}},
		{name: "list after pages direct children", run: func(t *testing.T, f fixture) {
			for _, name := range []string{"b", "a", "c", "sub/deep"} {
				mustPut(t, f.store, k(t, "dir/"+name), secrets.Record{Public: []byte(name)}, secrets.CreateOnly)
			}
			a, b, c := k(t, "dir/a"), k(t, "dir/b"), k(t, "dir/c")
			tests := map[string]struct {
				after string
				limit int
				want  []string
			}{
				"first page":          {after: "", limit: 2, want: []string{a, b}},
				"exactly all":         {after: "", limit: 3, want: []string{a, b, c}},
				"one more than all":   {after: "", limit: 4, want: []string{a, b, c}},
				"after a key":         {after: a, limit: 2, want: []string{b, c}},
				"after a missing key": {after: k(t, "dir/bb"), limit: 1, want: []string{c}},
				"after the last":      {after: c, limit: 5, want: []string{}},
				"past the end":        {after: k(t, "dir/zz"), limit: 5, want: []string{}},
				"limit zero":          {after: "", limit: 0, want: []string{}},
			}
			for name, tt := range tests {
				got, err := secrets.ListAfter(bg, f.store, k(t, "dir/"), tt.after, tt.limit)
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("%s: ListAfter(%q, %d) = %q, %v; want %q", name, tt.after, tt.limit, got, err, tt.want)
				}
			}
		}},
		{name: "folders names sub-folders, not records", run: func(t *testing.T, f fixture) {
			for _, name := range []string{"top", "b/one", "a/one", "a/two", "a/deep/x", "a0", "c/d/e"} {
				mustPut(t, f.store, k(t, "dir/"+name), secrets.Record{Public: []byte(name)}, secrets.CreateOnly)
			}
			want := []string{k(t, "dir/a/"), k(t, "dir/b/"), k(t, "dir/c/")}
			for _, prefix := range []string{k(t, "dir/"), k(t, "dir")} {
				got, err := f.store.Folders(bg, prefix)
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("Folders(%q) = %q, %v; want %q", prefix, got, err, want)
				}
			}
			if got, err := f.store.Folders(bg, k(t, "dir/a/")); err != nil || !slices.Equal(got, []string{k(t, "dir/a/deep/")}) {
				t.Fatalf("Folders(dir/a/) = %q, %v; want only deep/", got, err)
			}
			for _, empty := range []string{k(t, "dir/b/"), k(t, "nothing/")} {
				if got, err := f.store.Folders(bg, empty); err != nil || len(got) != 0 {
					t.Fatalf("Folders(%q) = %q, %v; want none", empty, got, err)
				}
			}
			if got, err := f.store.List(bg, k(t, "dir/")); err != nil || !slices.Equal(got, []string{k(t, "dir/a0"), k(t, "dir/top")}) {
				t.Fatalf("List(dir/) = %q, %v; want the two records only", got, err)
			}
		}},
		{name: "delete removes all versions", run: func(t *testing.T, f fixture) {
			key := k(t, "gone")
			v := mustPut(t, f.store, key, secrets.Record{Public: []byte("1")}, secrets.CreateOnly)
			mustPut(t, f.store, key, secrets.Record{Public: []byte("2")}, v)
			if err := f.store.Delete(bg, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := f.store.Get(bg, key); !errors.Is(err, secrets.ErrNotFound) {
				t.Fatalf("Get after Delete = %v; want ErrNotFound", err)
			}
			if err := f.store.Delete(bg, key); err != nil {
				t.Fatalf("Delete(missing) = %v; want nil", err)
			}
			if got, _ := f.store.List(bg, k(t, "")); slices.Contains(got, key) {
				t.Fatalf("List after Delete still has %q", key)
			}
			// Versions are gone too: the key can be created again from scratch.
			if v := mustPut(t, f.store, key, secrets.Record{Public: []byte("new")}, secrets.CreateOnly); v != 1 {
				t.Fatalf("re-create after Delete: version %d; want 1", v)
			}
		}},
		{name: "invalid keys are refused", run: func(t *testing.T, f fixture) {
			for _, key := range []string{"", "/abs", "trailing/", "a//b", "a/../b"} {
				if _, err := f.store.Put(bg, key, secrets.Record{}, secrets.AnyVersion); err == nil {
					t.Errorf("Put(%q) succeeded; want an error", key)
				}
			}
		}},
	}
}

// TestContract runs every case against every implementation.
func TestContract(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			f := impl.open(t)
			for _, c := range contractCases() {
				t.Run(c.name, func(t *testing.T) { c.run(t, f) })
			}
		})
	}
}
