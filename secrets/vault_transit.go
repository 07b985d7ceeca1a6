package secrets

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"github.com/hashicorp/vault/api"
	"strconv"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
)

// Seal implements Store with Transit encrypt on the derived key; the context
// is base64(scope), so Vault derives a key per scope and a ciphertext moved
// to another scope does not decrypt.
func (v *Vault) Seal(ctx context.Context, scope string, plaintext []byte) ([]byte, error) {
	if err := validScope(scope); err != nil {
		return nil, err
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/encrypt/" + v.cfg.KeyName
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, path, map[string]any{
			"plaintext": base64.StdEncoding.EncodeToString(plaintext),
			"context":   base64.StdEncoding.EncodeToString([]byte(scope)),
		})
	})
	if err != nil {
		return nil, v.fault(err, path)
	}
	ct, _ := s.Data["ciphertext"].(string)
	if !strings.HasPrefix(ct, "vault:v") {
		return nil, apperr.New(apperr.Internal, "vault: %s returned no ciphertext", path)
	}
	return []byte(ct), nil
}

// Open implements Store with Transit decrypt. Vault answers 400 when the
// context (scope) or the ciphertext is wrong; that is ErrOpen.
func (v *Vault) Open(ctx context.Context, scope string, sealed []byte) ([]byte, error) {
	if err := validScope(scope); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(string(sealed), "vault:v") {
		return nil, apperr.Wrap(ErrOpen, apperr.Internal, "sealed value is not a Vault ciphertext")
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/decrypt/" + v.cfg.KeyName
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, path, map[string]any{
			"ciphertext": string(sealed),
			"context":    base64.StdEncoding.EncodeToString([]byte(scope)),
		})
	})
	if err != nil {
		if status, _ := responseErrors(err); status == 400 {
			return nil, apperr.Wrap(fmt.Errorf("%w: %w", ErrOpen, err), apperr.Internal, "sealed value does not open for this scope")
		}
		return nil, v.fault(err, path)
	}
	pt, _ := s.Data["plaintext"].(string)
	out, err := base64.StdEncoding.DecodeString(pt)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "vault: %s returned invalid base64", path)
	}
	return out, nil
}

// openBatchSize bounds one batch decrypt: a few hundred small ciphertexts
// make a request of some 100 KB that Vault answers well within a deadline.
const openBatchSize = 250

// OpenBatch implements BatchOpener with Transit's batch_input: one decrypt
// call per openBatchSize items, so opening a page of 1,000 tokens costs 4
// round trips, not 1,000. Vault answers 400 when no item decrypts (200,
// as asked, when some do); then every item is ErrOpen, as each alone
// would be.
func (v *Vault) OpenBatch(ctx context.Context, scopes []string, sealed [][]byte) ([][]byte, []error) {
	plain, errs := make([][]byte, len(sealed)), make([]error, len(sealed))
	var idx []int // items sent, in batch order
	for i := range sealed {
		switch {
		case validScope(scopes[i]) != nil:
			errs[i] = validScope(scopes[i])
		case !strings.HasPrefix(string(sealed[i]), "vault:v"):
			errs[i] = apperr.Wrap(ErrOpen, apperr.Internal, "sealed value is not a Vault ciphertext")
		default:
			idx = append(idx, i)
		}
	}
	for len(idx) > 0 {
		chunk := idx[:min(openBatchSize, len(idx))]
		idx = idx[len(chunk):]
		v.openChunk(ctx, chunk, scopes, sealed, plain, errs)
	}
	return plain, errs
}

func (v *Vault) openChunk(ctx context.Context, chunk []int, scopes []string, sealed, plain [][]byte, errs []error) {
	fail := func(err error) {
		for _, i := range chunk {
			errs[i] = err
		}
	}
	in := make([]map[string]any, len(chunk))
	for n, i := range chunk {
		in[n] = map[string]any{"ciphertext": string(sealed[i]), "context": base64.StdEncoding.EncodeToString([]byte(scopes[i]))}
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/decrypt/" + v.cfg.KeyName
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		// Without partial_failure_response_code a batch where some items
		// fail is a 400 whose per-item results the client drops.
		return v.client.Logical().WriteWithContext(ctx, path, map[string]any{"batch_input": in, "partial_failure_response_code": 200})
	})
	if err != nil {
		if status, _ := responseErrors(err); status == 400 {
			fail(apperr.Wrap(fmt.Errorf("%w: %w", ErrOpen, err), apperr.Internal, "sealed value does not open for this scope"))
			return
		}
		fail(v.fault(err, path))
		return
	}
	results, _ := s.Data["batch_results"].([]any)
	if len(results) != len(chunk) {
		fail(apperr.New(apperr.Internal, "vault: %s answered %d results for %d ciphertexts", path, len(results), len(chunk)))
		return
	}
	for n, i := range chunk {
		r, _ := results[n].(map[string]any)
		if msg, _ := r["error"].(string); msg != "" || r == nil {
			errs[i] = apperr.Wrap(fmt.Errorf("%w: %s", ErrOpen, msg), apperr.Internal, "sealed value does not open for this scope")
			continue
		}
		pt, _ := r["plaintext"].(string)
		if plain[i], err = base64.StdEncoding.DecodeString(pt); err != nil {
			errs[i] = apperr.Wrap(err, apperr.Internal, "vault: %s returned invalid base64", path)
		}
	}
}

// signingKey reads transit/keys/<signing key>: its latest version and the
// public key of every version.
func (v *Vault) signingKey(ctx context.Context) (latest int, pubs map[string]ed25519.PublicKey, err error) {
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/keys/" + v.cfg.SigningKeyName
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().ReadWithContext(ctx, path)
	})
	if err != nil {
		return 0, nil, v.fault(err, "read "+path)
	}
	if s == nil {
		return 0, nil, apperr.New(apperr.NotFound, "vault: transit key %s is missing", path)
	}
	latest = jsonInt(s.Data["latest_version"])
	versions, _ := s.Data["keys"].(map[string]any)
	pubs = make(map[string]ed25519.PublicKey, len(versions))
	for n, raw := range versions {
		info, _ := raw.(map[string]any)
		b64, _ := info["public_key"].(string)
		pub, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return 0, nil, apperr.New(apperr.Internal, "vault: %s version %s has no ed25519 public key", path, n)
		}
		pubs["v"+n] = pub
	}
	return latest, pubs, nil
}

// SigningKeyID implements KeyRing: "v<latest_version>".
func (v *Vault) SigningKeyID(ctx context.Context) (string, error) {
	latest, _, err := v.signingKey(ctx)
	if err != nil {
		return "", err
	}
	return "v" + strconv.Itoa(latest), nil
}

// Sign implements KeyRing with transit/sign, pinned to the kid's version so
// the signature matches the kid already written into the token header even
// if another replica rotates in between.
func (v *Vault) Sign(ctx context.Context, kid string, msg []byte) ([]byte, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(kid, "v"))
	if !strings.HasPrefix(kid, "v") || err != nil || n <= 0 {
		return nil, apperr.New(apperr.NotFound, "no signing key %q", kid)
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/sign/" + v.cfg.SigningKeyName
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, path, map[string]any{
			"input":       base64.StdEncoding.EncodeToString(msg),
			"key_version": n,
		})
	})
	if err != nil {
		if status, _ := responseErrors(err); status == 400 {
			return nil, apperr.Wrap(err, apperr.NotFound, "no signing key %q", kid)
		}
		return nil, v.fault(err, path)
	}
	sig, _ := s.Data["signature"].(string)
	prefix := "vault:" + kid + ":"
	if !strings.HasPrefix(sig, prefix) {
		return nil, apperr.New(apperr.Internal, "vault: %s signed with another version than %s", path, kid)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, prefix))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, apperr.New(apperr.Internal, "vault: %s returned a malformed ed25519 signature", path)
	}
	return raw, nil
}

// PublicKeys implements KeyRing from transit/keys/<key>: one public key per
// version, "v<N>".
func (v *Vault) PublicKeys(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	_, pubs, err := v.signingKey(ctx)
	return pubs, err
}

// Rotate implements KeyRing with transit/keys/<key>/rotate.
func (v *Vault) Rotate(ctx context.Context) (string, error) {
	rctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/keys/" + v.cfg.SigningKeyName + "/rotate"
	if _, err := v.client.Logical().WriteWithContext(rctx, path, nil); err != nil {
		return "", v.fault(err, path)
	}
	kid, err := v.SigningKeyID(ctx)
	if err == nil {
		v.log.Info("rotated the token signing key", "key", v.cfg.TransitMount+"/keys/"+v.cfg.SigningKeyName, "kid", kid)
	}
	return kid, err
}
