package sources

import (
	"context"

	"github.com/spotter-dev/spotter/apperr"
)

// ForgetPool deletes a removed pool's sources setting (with its sealed
// secrets) and its job records (the head and its shards), once the pool is gone: the reconciler's
// last step of a delete calls it right after removing the pool's record.
// PollAll's sweep does the same for any a crash leaves behind.
func (s *Service) ForgetPool(ctx context.Context, name string) error {
	if _, err := s.pools.Get(ctx, name); apperr.Code(err) != apperr.NotFound {
		return err // nil: the pool (or one created again) still lives
	}
	for _, prefix := range []string{ConfigPrefix, TrackerPrefix} {
		if err := s.store.Delete(ctx, prefix+name); err != nil {
			return err
		}
	}
	if err := s.forgetShards(ctx, name); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "ci sources: deleted the records of a removed pool", "pool", name)
	return nil
}
