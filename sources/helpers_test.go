package sources

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// rig is a Service on the embedded store with one pool, "ci", labelled
// linux, whose sources are set by patch.
type rig struct {
	s     *Service
	st    secrets.Store
	pools *pools.Registry
	rec   pools.Record
}

func newRig(tb testing.TB, now func() time.Time, patch map[string]json.RawMessage) rig {
	tb.Helper()
	st, _ := storetest.Embedded(tb, nil)
	return newRigOn(tb, st, now, patch)
}

// store is what a rig runs on: either backend.
type store interface {
	secrets.Store
	token.KeySource
}

// eachStore runs f on the embedded store and on Vault (skipped without
// VAULT_ADDR).
func eachStore(t *testing.T, f func(t *testing.T, st store)) {
	t.Run("embedded", func(t *testing.T) {
		st, _ := storetest.Embedded(t, nil)
		f(t, st)
	})
	t.Run("vault", func(t *testing.T) { f(t, storetest.Vault(t, "sources", nil)) })
}

func newRigOn(tb testing.TB, st store, now func() time.Time, patch map[string]json.RawMessage) rig {
	tb.Helper()
	ctx := context.Background()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter"})
	if err != nil {
		tb.Fatal(err)
	}
	caps, err := capability.New(capability.Config{Store: st, Authority: auth})
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := caps.Create(ctx, api.CreateTokenRequest{Name: "ci", Policy: &api.Policy{Regions: []string{"us-east-1"},
		InstanceTypes: []string{"c6i.*"}, AMIs: []string{"ami-0abc1234"}, MaxCount: 10, MaxRunning: 50, MaxTTL: api.Duration(12 * time.Hour)},
		Credentials: &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := pools.New(pools.Config{Store: st, Authority: auth, Tokens: caps})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := reg.Create(ctx, pool.Pool{Name: "ci", TokenID: tok.ID, Region: "us-east-1", AMI: "ami-0abc1234",
		LaunchConfigs: []pool.LaunchConfig{{InstanceType: "c6i.large"}}, MaxCapacity: 50, Labels: []string{"linux"}}); err != nil {
		tb.Fatal(err)
	}
	s, err := New(Deps{Store: st, Pools: reg, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Patch(ctx, "ci", patch); err != nil {
		tb.Fatal(err)
	}
	rec, err := reg.Get(ctx, "ci")
	if err != nil {
		tb.Fatal(err)
	}
	return rig{s: s, st: st, pools: reg, rec: rec}
}

// track lets a test seed jobs as the one-record layout's track did:
// change gets an empty tracker, and what it adds is merged into the jobs'
// shards and counted in the head.
func (s *Service) track(ctx context.Context, rec pools.Record, change func(*trackerRecord) (bool, error)) (trackerRecord, bool, error) {
	tr := trackerRecord{Tracker: &Tracker{}}
	tr.Tracker.init()
	if changed, err := change(&tr); err != nil || !changed {
		return tr, false, err
	}
	parts := make([]Tracker, Shards)
	for k, j := range tr.Tracker.Jobs {
		parts[shardOf(k)].init()
		parts[shardOf(k)].Jobs[k] = j
	}
	for id, at := range tr.Tracker.Deliveries {
		parts[shardOf(id)].init()
		parts[shardOf(id)].Deliveries[id] = at
	}
	for i, part := range parts {
		if len(part.Jobs)+len(part.Deliveries) == 0 {
			continue
		}
		t, v, err := s.updateShard(ctx, rec, i, func(t *Tracker) (bool, error) { return t.merge(part), nil })
		if err != nil {
			return tr, false, err
		}
		if err := s.updateHead(ctx, rec, func(h *trackerRecord) bool { return h.setCount(i, v, t) }); err != nil {
			return tr, false, err
		}
	}
	return tr, true, nil
}
