package sources

import (
	"context"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
)

// sweep removes the sources and job records of pools that are gone (the
// reconciler removed the record after a delete), checking each again
// just before, so a pool created since the listing keeps its own.
func (s *Service) sweep(ctx context.Context, live map[string]bool) {
	for _, prefix := range []string{ConfigPrefix, TrackerPrefix} {
		keys, err := s.store.List(ctx, prefix)
		if err != nil {
			s.log.WarnContext(ctx, "ci sources: list for the sweep", "err", err)
			return
		}
		for _, k := range keys {
			name := strings.TrimPrefix(k, prefix)
			if live[name] {
				continue
			}
			if _, err := s.pools.Get(ctx, name); apperr.Code(err) != apperr.NotFound {
				continue
			}
			if err := s.store.Delete(ctx, k); err != nil {
				s.log.WarnContext(ctx, "ci sources: sweep", "key", k, "err", err)
				continue
			}
			s.log.InfoContext(ctx, "ci sources: removed the records of a removed pool", "pool", name)
		}
	}
	s.sweepShards(ctx, live)
}

// sweepShards removes the job shards (pooljobs/<name>/<nn>) of pools that
// are gone, as sweep does their heads.
func (s *Service) sweepShards(ctx context.Context, live map[string]bool) {
	dirs, err := s.store.Folders(ctx, TrackerPrefix)
	if err != nil {
		s.log.WarnContext(ctx, "ci sources: list for the sweep", "err", err)
		return
	}
	for _, dir := range dirs {
		name := strings.TrimSuffix(strings.TrimPrefix(dir, TrackerPrefix), "/")
		if live[name] {
			continue
		}
		if _, err := s.pools.Get(ctx, name); apperr.Code(err) != apperr.NotFound {
			continue
		}
		if err := s.forgetShards(ctx, name); err != nil {
			s.log.WarnContext(ctx, "ci sources: sweep", "pool", name, "err", err)
		}
	}
}

// forgetShards deletes a removed pool's job shards and what this replica
// kept of them.
func (s *Service) forgetShards(ctx context.Context, name string) error {
	s.acts.Delete(name)
	s.layouts.Delete(name)
	s.rounds.Delete(name)
	s.missed.Delete(name)
	keys, err := s.store.List(ctx, TrackerPrefix+name+"/")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
