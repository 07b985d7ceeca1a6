package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// Bounds of a pool's secrets, each tested at and past its edge.
const (
	MaxSecrets     = 100
	MaxSecretBytes = 32 * 1024
	MaxNameLen     = 64
	MaxScopeLen    = 140
)

// Names a template knows: the agent's token, an SSH key, git
// credentials; env.<NAME> is an environment variable for jobs.
var (
	secretNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// A scope narrows a secret to one pipeline or repository (Buildkite's
	// /{pipeline}/env): "pipeline/<slug>" or "repo/<owner>/<name>".
	scopeRE = regexp.MustCompile(`^(pipeline/[a-z0-9][a-z0-9-]*|repo/[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.][A-Za-z0-9_.-]*)$`)
)

// SecretInfo is what list shows of a secret: never its value.
type SecretInfo struct {
	Name      string    `json:"name"`
	Scope     string    `json:"scope,omitempty"`
	Bytes     int       `json:"bytes"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// poolSecrets is a pool's record: the index in Public, the values sealed
// under the pool's own scope.
type poolSecrets struct {
	// Incarnation is the pool's when the secrets were set: a pool deleted
	// and created again under its name starts with none of its
	// predecessor's.
	Incarnation string       `json:"incarnation"`
	Secrets     []SecretInfo `json:"secrets"`
}

func sealScope(poolName string) string { return "pool:" + poolName }

func secretKey(scope, name string) string { return scope + "\x00" + name }

func checkSecret(name, scope string, value []byte) error {
	switch {
	case name == "" || len(name) > MaxNameLen || !secretNameRE.MatchString(name) || strings.Contains(name, ".."):
		return apperr.New(apperr.Invalid, "name: 1-%d letters, digits and . _ - (e.g. agent-token, ssh-key, git-credentials, env.NPM_TOKEN)", MaxNameLen)
	case scope != "" && (len(scope) > MaxScopeLen || !scopeRE.MatchString(scope) || strings.Contains(scope, "..")):
		return apperr.New(apperr.Invalid, "scope: \"\" (the whole pool), pipeline/<slug> or repo/<owner>/<name>, at most %d characters", MaxScopeLen)
	case value != nil && len(value) == 0:
		return apperr.New(apperr.Invalid, "value: empty; remove a secret with `spotter pool secrets rm`")
	case len(value) > MaxSecretBytes:
		return apperr.New(apperr.Invalid, "value: %d bytes, over %d; keep large files in the AMI or behind a credential", len(value), MaxSecretBytes)
	}
	return nil
}

// load reads the secrets of a pool's incarnation; a pool without any
// (or with only an earlier incarnation's) has none.
func (s *Service) load(ctx context.Context, poolName, incarnation string, open bool) (poolSecrets, map[string]string, int, error) {
	none := poolSecrets{Incarnation: incarnation, Secrets: []SecretInfo{}}
	r, err := s.store.Get(ctx, SecretsPrefix+poolName)
	if errors.Is(err, secrets.ErrNotFound) {
		return none, map[string]string{}, secrets.CreateOnly, nil
	}
	if err != nil {
		return poolSecrets{}, nil, 0, fmt.Errorf("load the secrets of pool %s: %w", poolName, err)
	}
	var idx poolSecrets
	if err := json.Unmarshal(r.Public, &idx); err != nil {
		return poolSecrets{}, nil, 0, fmt.Errorf("decode the secrets of pool %s: %w", poolName, err)
	}
	if idx.Incarnation != incarnation {
		return none, map[string]string{}, r.Version, nil
	}
	vals := map[string]string{}
	if open && len(r.Sealed) > 0 {
		plain, err := s.store.Open(ctx, sealScope(poolName), r.Sealed)
		if err != nil {
			return poolSecrets{}, nil, 0, fmt.Errorf("open the secrets of pool %s: %w", poolName, err)
		}
		if err := json.Unmarshal(plain, &vals); err != nil {
			return poolSecrets{}, nil, 0, fmt.Errorf("decode the secrets of pool %s: %w", poolName, err)
		}
	}
	return idx, vals, r.Version, nil
}

// change applies fn to a pool's secrets with check-and-set, re-reading
// when another replica wrote in between.
func (s *Service) change(ctx context.Context, poolName string, fn func(idx *poolSecrets, vals map[string]string) error) error {
	for range 5 {
		rec, err := s.pools.Get(ctx, poolName)
		if err != nil {
			return err
		}
		idx, vals, version, err := s.load(ctx, poolName, rec.Incarnation, true)
		if err != nil {
			return err
		}
		if err := fn(&idx, vals); err != nil {
			return err
		}
		plain, err := json.Marshal(vals)
		if err != nil {
			return err
		}
		sealed, err := s.store.Seal(ctx, sealScope(poolName), plain)
		clear(plain)
		if err != nil {
			return err
		}
		pub, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		_, err = s.store.Put(ctx, SecretsPrefix+poolName, secrets.Record{Public: pub, Sealed: sealed}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return err
	}
	return apperr.New(apperr.Conflict, "the secrets of pool %s are being changed by another request; try again", poolName)
}

// SetSecret stores (or replaces) one secret of a pool, sealed. It is
// never shown again: list shows its name, size and time.
func (s *Service) SetSecret(ctx context.Context, poolName, scope, name string, value []byte) (SecretInfo, error) {
	if value == nil {
		value = []byte{}
	}
	if err := checkSecret(name, scope, value); err != nil {
		return SecretInfo{}, err
	}
	info := SecretInfo{Name: name, Scope: scope, Bytes: len(value), UpdatedAt: s.now().UTC().Truncate(time.Second)}
	err := s.change(ctx, poolName, func(idx *poolSecrets, vals map[string]string) error {
		k := secretKey(scope, name)
		if _, ok := vals[k]; !ok && len(vals) >= MaxSecrets {
			return apperr.New(apperr.Invalid, "pool %s holds %d secrets, the most a pool may; remove one first", poolName, MaxSecrets)
		}
		vals[k] = string(value)
		idx.Secrets = slices.DeleteFunc(idx.Secrets, func(i SecretInfo) bool { return i.Name == name && i.Scope == scope })
		idx.Secrets = append(idx.Secrets, info)
		sortInfos(idx.Secrets)
		return nil
	})
	if err != nil {
		return SecretInfo{}, err
	}
	s.log.InfoContext(ctx, "pool secret set", "pool", poolName, "scope", scope, "name", name, "bytes", len(value))
	return info, nil
}

// ListSecrets names a pool's secrets, sorted by scope then name.
func (s *Service) ListSecrets(ctx context.Context, poolName string) ([]SecretInfo, error) {
	rec, err := s.pools.Get(ctx, poolName)
	if err != nil {
		return nil, err
	}
	idx, _, _, err := s.load(ctx, poolName, rec.Incarnation, false)
	return idx.Secrets, err
}

// RemoveSecret deletes one secret; removing one that is not there is a
// 404, so a typo does not pass for a removal.
func (s *Service) RemoveSecret(ctx context.Context, poolName, scope, name string) error {
	if err := checkSecret(name, scope, nil); err != nil {
		return err
	}
	err := s.change(ctx, poolName, func(idx *poolSecrets, vals map[string]string) error {
		k := secretKey(scope, name)
		if _, ok := vals[k]; !ok {
			return apperr.New(apperr.NotFound, "pool %s has no secret %q in scope %q; `spotter pool secrets list %s` shows them", poolName, name, scope, poolName)
		}
		delete(vals, k)
		idx.Secrets = slices.DeleteFunc(idx.Secrets, func(i SecretInfo) bool { return i.Name == name && i.Scope == scope })
		return nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "pool secret removed", "pool", poolName, "scope", scope, "name", name)
	}
	return err
}

func sortInfos(s []SecretInfo) {
	slices.SortFunc(s, func(a, b SecretInfo) int {
		if c := strings.Compare(a.Scope, b.Scope); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}
