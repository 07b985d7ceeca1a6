package reconcile

import (
	"context"

	"github.com/spotter-dev/spotter/pool"
)

// Tag implements Tagger with the pool's token's session.
func (a *AWS) Tag(ctx context.Context, p pool.Pool, ids []string, tags map[string]string) error {
	sess, _, err := a.session(ctx, p, false)
	if err != nil {
		return err
	}
	return a.Spot.TagInstances(ctx, sess, p.Region, ids, tags)
}

// Untag implements Tagger.
func (a *AWS) Untag(ctx context.Context, p pool.Pool, ids []string, keys []string) error {
	sess, _, err := a.session(ctx, p, false)
	if err != nil {
		return err
	}
	return a.Spot.UntagInstances(ctx, sess, p.Region, ids, keys)
}
