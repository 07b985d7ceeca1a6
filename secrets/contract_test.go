package secrets_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
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

func contractCases() []contractCase {
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
		{name: "seal and open round trip", run: func(t *testing.T, f fixture) {
			for _, pt := range [][]byte{[]byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), {0, 1, 2, 255}, bytes.Repeat([]byte("x"), 4096)} {
				sealed, err := f.store.Seal(bg, "tok-1", pt)
				if err != nil {
					t.Fatalf("Seal: %v", err)
				}
				if bytes.Contains(sealed, pt) {
					t.Fatalf("sealed value contains the plaintext")
				}
				got, err := f.store.Open(bg, "tok-1", sealed)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("Open = %q, %v; want the plaintext", got, err)
				}
			}
			a, _ := f.store.Seal(bg, "tok-1", []byte("same"))
			b, _ := f.store.Seal(bg, "tok-1", []byte("same"))
			if bytes.Equal(a, b) {
				t.Fatalf("two seals of one plaintext are equal; want randomised ciphertexts")
			}
		}},
		{name: "open all opens each item or says why not", run: func(t *testing.T, f fixture) {
			// 260 items cross Vault's batch of 250; the wrong scope, the
			// garbage and the empty scope sit in both batches.
			var scopes []string
			var sealed [][]byte
			for i := range 260 {
				scope := fmt.Sprintf("tok-%d", i)
				b, err := f.store.Seal(bg, scope, []byte("secret-"+scope))
				if err != nil {
					t.Fatal(err)
				}
				scopes, sealed = append(scopes, scope), append(sealed, b)
			}
			bad := map[int]string{3: "wrong scope", 255: "wrong scope", 7: "garbage", 258: "empty scope"}
			for i, why := range bad {
				switch why {
				case "wrong scope":
					scopes[i] = "tok-other"
				case "garbage":
					sealed[i] = []byte("vault:v1:bm90IGEgY2lwaGVydGV4dA==")
				case "empty scope":
					scopes[i] = ""
				}
			}
			plain, errs := secrets.OpenAll(bg, f.store, scopes, sealed)
			if len(plain) != len(sealed) || len(errs) != len(sealed) {
				t.Fatalf("OpenAll = %d plaintexts, %d errors for %d items", len(plain), len(errs), len(sealed))
			}
			for i := range sealed {
				if why, isBad := bad[i]; isBad {
					if errs[i] == nil {
						t.Errorf("item %d (%s) opened to %q", i, why, plain[i])
					} else if why != "empty scope" && !errors.Is(errs[i], secrets.ErrOpen) {
						t.Errorf("item %d (%s) = %v; want ErrOpen", i, why, errs[i])
					}
					continue
				}
				if want := "secret-" + scopes[i]; errs[i] != nil || string(plain[i]) != want {
					t.Errorf("item %d = %q, %v; want %q", i, plain[i], errs[i], want)
				}
			}
			// None opens: each is still ErrOpen (Vault answers the batch 400).
			_, errs = secrets.OpenAll(bg, f.store, []string{"x-1", "x-2"}, [][]byte{sealed[0], sealed[1]})
			for i, err := range errs {
				if !errors.Is(err, secrets.ErrOpen) {
					t.Errorf("all-wrong batch item %d = %v; want ErrOpen", i, err)
				}
			}
			if p, e := secrets.OpenAll(bg, f.store, nil, nil); len(p) != 0 || len(e) != 0 {
				t.Errorf("OpenAll of nothing = %v, %v", p, e)
			}
		}},
		{name: "open with another scope fails", run: func(t *testing.T, f fixture) {
			sealed, err := f.store.Seal(bg, "tok-a", []byte("secret"))
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			for _, scope := range []string{"tok-b", "tok-a ", "tok-", "TOK-A"} {
				if got, err := f.store.Open(bg, scope, sealed); err == nil {
					t.Fatalf("Open(scope %q) of a tok-a value = %q; want an error", scope, got)
				} else if !errors.Is(err, secrets.ErrOpen) {
					t.Fatalf("Open(scope %q) = %v; want ErrOpen", scope, err)
				}
			}
			tampered := bytes.Clone(sealed)
			tampered[len(tampered)-2] ^= 1
			if _, err := f.store.Open(bg, "tok-a", tampered); err == nil {
				t.Fatalf("Open(tampered) succeeded")
			}
			if _, err := f.store.Seal(bg, "", []byte("x")); err == nil {
				t.Fatalf("Seal with empty scope succeeded")
			}
		}},
		{name: "sealed value copied to another record does not open", run: func(t *testing.T, f fixture) {
			keyA, keyB := k(t, "tokens/a"), k(t, "tokens/b")
			sealedA, _ := f.store.Seal(bg, keyA, []byte("secret of a"))
			sealedB, _ := f.store.Seal(bg, keyB, []byte("secret of b"))
			mustPut(t, f.store, keyA, secrets.Record{Public: []byte("a"), Sealed: sealedA}, secrets.CreateOnly)
			vb := mustPut(t, f.store, keyB, secrets.Record{Public: []byte("b"), Sealed: sealedB}, secrets.CreateOnly)
			// An attacker with write access to storage copies a's secret into b.
			recA, _ := f.store.Get(bg, keyA)
			mustPut(t, f.store, keyB, secrets.Record{Public: []byte("b"), Sealed: recA.Sealed}, vb)
			recB, _ := f.store.Get(bg, keyB)
			if got, err := f.store.Open(bg, keyB, recB.Sealed); err == nil {
				t.Fatalf("Open(b's scope, a's ciphertext) = %q; want an error", got)
			}
			if got, err := f.store.Open(bg, keyA, recA.Sealed); err != nil || string(got) != "secret of a" {
				t.Fatalf("Open(a) = %q, %v; want a's secret", got, err)
			}
		}},
		{name: "raw storage never holds the plaintext", run: func(t *testing.T, f fixture) {
			key := k(t, "tokens/raw")
			secret := []byte("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
			public := []byte("public-marker-" + key)
			sealed, err := f.store.Seal(bg, key, secret)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			mustPut(t, f.store, key, secrets.Record{Public: public, Sealed: sealed}, secrets.CreateOnly)
			raw := f.raw(t, key)
			// The public part must be there, else the read proves nothing.
			if !bytes.Contains(raw, public) && !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(public))) {
				t.Fatalf("raw storage does not show the public part; the raw read is broken")
			}
			for name, form := range map[string]string{
				"plaintext":        string(secret),
				"base64":           base64.StdEncoding.EncodeToString(secret),
				"base64url":        base64.RawURLEncoding.EncodeToString(secret),
				"secret key alone": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			} {
				if bytes.Contains(raw, []byte(form)) {
					t.Errorf("raw storage holds the secret (%s)", name)
				}
			}
		}},
		{name: "keyring signs, verifies and rotates", run: func(t *testing.T, f fixture) {
			msg := []byte("header.claims")
			kid1, err := f.keys.SigningKeyID(bg)
			if err != nil {
				t.Fatalf("SigningKeyID: %v", err)
			}
			sig1, err := f.keys.Sign(bg, kid1, msg)
			if err != nil || len(sig1) != ed25519.SignatureSize {
				t.Fatalf("Sign(%s) = %d bytes, %v; want a 64-byte signature", kid1, len(sig1), err)
			}
			pubs, err := f.keys.PublicKeys(bg)
			if err != nil || pubs[kid1] == nil {
				t.Fatalf("PublicKeys = %v, %v; want %s", pubs, err, kid1)
			}
			if !ed25519.Verify(pubs[kid1], msg, sig1) {
				t.Fatalf("ed25519.Verify(%s) failed", kid1)
			}
			if ed25519.Verify(pubs[kid1], []byte("header.claimz"), sig1) {
				t.Fatalf("signature verifies another message")
			}
			kid2, err := f.keys.Rotate(bg)
			if err != nil || kid2 == kid1 {
				t.Fatalf("Rotate = %q, %v; want a new kid", kid2, err)
			}
			if now, _ := f.keys.SigningKeyID(bg); now != kid2 {
				t.Fatalf("SigningKeyID after Rotate = %q; want %q", now, kid2)
			}
			sig2, err := f.keys.Sign(bg, kid2, msg)
			if err != nil {
				t.Fatalf("Sign(%s): %v", kid2, err)
			}
			pubs, err = f.keys.PublicKeys(bg)
			if err != nil || pubs[kid1] == nil || pubs[kid2] == nil {
				t.Fatalf("PublicKeys after Rotate = %v, %v; want %s and %s", pubs, err, kid1, kid2)
			}
			if !ed25519.Verify(pubs[kid2], msg, sig2) || !ed25519.Verify(pubs[kid1], msg, sig1) {
				t.Fatalf("after Rotate, a signature no longer verifies")
			}
			if ed25519.Verify(pubs[kid1], msg, sig2) {
				t.Fatalf("the new key's signature verifies under the old key")
			}
			// The old key still signs (tokens issued just before a rotation).
			if sig, err := f.keys.Sign(bg, kid1, msg); err != nil || !ed25519.Verify(pubs[kid1], msg, sig) {
				t.Fatalf("Sign(old %s) = %v; want a valid signature", kid1, err)
			}
			if _, err := f.keys.Sign(bg, "k999", msg); err == nil {
				t.Fatalf("Sign(unknown kid) succeeded")
			}
		}},
		{name: "ping", run: func(t *testing.T, f fixture) {
			if err := f.store.Ping(bg); err != nil {
				t.Fatalf("Ping: %v", err)
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
