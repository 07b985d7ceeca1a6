package secrets_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/spotter-dev/spotter/secrets"
)

// sealCases: sealing and opening values, what raw storage holds, and the
// keyring. contractCases runs them after storeCases.
func sealCases() []contractCase {
	return []contractCase{
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
	}
}
