package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// ForgetPool deletes a pool's secrets record once no live pool owns it:
// the pool is gone (the reconciler's last step of a delete calls this
// right after removing the pool's record), or it is an earlier
// incarnation's. The secrets of the pool that exists are kept. Sweep
// calls it for every record, so one a crash left behind goes too.
//
// A pool created again under the name in the instant between the look-up
// and the delete could lose a secret set in that instant: the name is
// only free once the old record is removed, and this runs right after.
func (s *Service) ForgetPool(ctx context.Context, poolName string) (bool, error) {
	key := SecretsPrefix + poolName
	r, err := s.store.Get(ctx, key)
	if errors.Is(err, secrets.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var idx poolSecrets
	_ = json.Unmarshal(r.Public, &idx) // unreadable: no live pool's either
	rec, err := s.pools.Get(ctx, poolName)
	switch {
	case err == nil && rec.Incarnation == idx.Incarnation:
		return false, nil
	case err != nil && apperr.Code(err) != apperr.NotFound:
		return false, err
	}
	if err := s.store.Delete(ctx, key); err != nil {
		return false, err
	}
	s.log.InfoContext(ctx, "pool secrets deleted: their pool is gone", "pool", poolName, "secrets", len(idx.Secrets))
	return true, nil
}

// sweepSecrets runs ForgetPool over every pool's secrets record and
// returns how many it deleted.
func (s *Service) sweepSecrets(ctx context.Context) int {
	keys, err := s.store.List(ctx, SecretsPrefix)
	if err != nil {
		s.log.WarnContext(ctx, "pool secrets sweep: list", "err", err)
		return 0
	}
	n := 0
	for _, k := range keys {
		gone, err := s.ForgetPool(ctx, strings.TrimPrefix(k, SecretsPrefix))
		if err != nil {
			s.log.WarnContext(ctx, "pool secrets sweep", "key", k, "err", err)
		}
		if gone {
			n++
		}
	}
	return n
}
