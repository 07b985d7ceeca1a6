package bootstrap

import (
	"context"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// Tokens opens a pool's token's credentials (capability.Registry).
type Tokens interface {
	CredentialsByID(ctx context.Context, id string) (capability.Credentials, capability.Info, error)
}

// EC2 is Instances over EC2 with the pool's token's credentials: one
// DescribeInstances of the instance id, filtered by the token's tag, as
// the reaper and the reconciler see the token's instances.
type EC2 struct {
	Tokens Tokens
	Spot   *spot.Client
}

// Instance implements Instances.
func (e EC2) Instance(ctx context.Context, p pool.Pool, id string) (Instance, bool, error) {
	creds, _, err := e.Tokens.CredentialsByID(ctx, p.TokenID)
	if err != nil {
		return Instance{}, false, err
	}
	sess, err := e.Spot.Session(ctx, p.TokenID, creds, spot.MFA{}, p.Region)
	if err != nil {
		return Instance{}, false, err
	}
	in, found, err := e.Spot.Describe(ctx, sess, p.Region, p.TokenID, id)
	if err != nil || !found {
		return Instance{}, false, err
	}
	return Instance{ID: in.ID, Type: in.Type, State: in.State, LaunchTime: in.LaunchTime, Tags: in.Tags}, true, nil
}
