package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/hashicorp/vault/api"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spotter-dev/spotter/apperr"
)

// A record in KV v2 is {"public": base64, "sealed": string}: public is
// base64 because it is arbitrary bytes; sealed is a Transit ciphertext
// ("vault:v1:…"), already text.

// Get implements Store. A missing key, and a soft-deleted latest version
// (which Vault answers with metadata and no data), are ErrNotFound.
func (v *Vault) Get(ctx context.Context, key string) (Record, error) {
	if err := validKey(key); err != nil {
		return Record{}, err
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.KVMount + "/data/" + key
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().ReadWithContext(ctx, path)
	})
	if err != nil {
		return Record{}, v.fault(err, "read "+path)
	}
	if s == nil {
		return Record{}, apperr.New(apperr.NotFound, "no record at %s", key)
	}
	data, _ := s.Data["data"].(map[string]any)
	if data == nil {
		return Record{}, apperr.New(apperr.NotFound, "no record at %s (deleted)", key)
	}
	var rec Record
	if meta, ok := s.Data["metadata"].(map[string]any); ok {
		rec.Version = jsonInt(meta["version"])
	}
	if p, _ := data["public"].(string); p != "" {
		if rec.Public, err = base64.StdEncoding.DecodeString(p); err != nil {
			return Record{}, apperr.Wrap(err, apperr.Internal, "record %s: public part is not base64", key)
		}
	}
	if sealed, _ := data["sealed"].(string); sealed != "" {
		rec.Sealed = []byte(sealed)
	}
	return rec, nil
}

// Put implements Store with KV v2 check-and-set: CreateOnly sends cas=0
// ("only if the key does not exist"), a version sends cas=N, AnyVersion none.
func (v *Vault) Put(ctx context.Context, key string, rec Record, cas int) (int, error) {
	if err := validKey(key); err != nil {
		return 0, err
	}
	if err := validCAS(cas); err != nil {
		return 0, err
	}
	if !utf8.Valid(rec.Sealed) {
		// Seal's output is ASCII; anything else would be mangled by JSON.
		return 0, apperr.New(apperr.Invalid, "record %s: sealed part is not a Vault ciphertext", key)
	}
	data := map[string]any{"public": base64.StdEncoding.EncodeToString(rec.Public)}
	if len(rec.Sealed) > 0 {
		data["sealed"] = string(rec.Sealed)
	}
	body := map[string]any{"data": data}
	if cas != AnyVersion {
		body["options"] = map[string]any{"cas": cas}
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.KVMount + "/data/" + key
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().WriteWithContext(ctx, path, body)
	})
	if err != nil {
		if status, msgs := responseErrors(err); status == 400 && containsAny(msgs, "check-and-set parameter did not match") {
			return 0, apperr.New(apperr.Conflict, "record %s is not at version %d", key, cas)
		}
		return 0, v.fault(err, "write "+path)
	}
	if s == nil {
		return 0, apperr.New(apperr.Internal, "vault: write %s returned no version", path)
	}
	return jsonInt(s.Data["version"]), nil
}

// Delete implements Store by deleting the metadata, which removes every
// version for good (a plain data delete would keep them, undeletable).
func (v *Vault) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.KVMount + "/metadata/" + key
	_, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().DeleteWithContext(ctx, path)
	})
	return v.fault(err, "delete "+path)
}

// List implements Store with a LIST on the metadata folder. Vault lists
// sub-folders as "name/"; they are left out, as in the embedded store.
func (v *Vault) List(ctx context.Context, prefix string) ([]string, error) {
	return v.list(ctx, prefix, false)
}

// Folders implements Store with the same LIST, keeping only the "name/"
// entries. Its cost grows with the entries directly under prefix (KV v2
// decrypts each name it returns), not with the records deeper down.
func (v *Vault) Folders(ctx context.Context, prefix string) ([]string, error) {
	return v.list(ctx, prefix, true)
}

func (v *Vault) list(ctx context.Context, prefix string, folders bool) ([]string, error) {
	dir, err := folder(prefix)
	if err != nil {
		return nil, err
	}
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.KVMount + "/metadata/" + dir
	s, err := v.retryAuth(ctx, func() (*api.Secret, error) {
		return v.client.Logical().ListWithContext(ctx, path)
	})
	if err != nil {
		return nil, v.fault(err, "list "+path)
	}
	keys := []string{}
	if s == nil {
		return keys, nil // an empty folder does not exist in KV
	}
	raw, _ := s.Data["keys"].([]any)
	for _, k := range raw {
		if name, ok := k.(string); ok && strings.HasSuffix(name, "/") == folders {
			keys = append(keys, dir+name)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// jsonInt reads a number from a Vault reply (json.Number, as the client
// decodes with UseNumber).
func jsonInt(x any) int {
	switch n := x.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}
