// Package liveness keeps one small record per pool instance: when it
// bootstrapped, when it last said it was alive (its heartbeats) and what
// it said it was doing, and whether the reconciler found it dangling.
// The bootstrap hand-off and the heartbeat endpoint write it; the
// reconciler's dangling check reads it and marks it. Nothing in it is
// secret: it is stored in the clear, under poolinstances/<pool>/<id>.
package liveness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spotter-dev/spotter/secrets"
)

// Prefix is where the records live: Prefix + pool + "/" + instance id.
const Prefix = "poolinstances/"

// States an instance may report in a heartbeat.
const (
	StateBusy = "busy"
	StateIdle = "idle"
)

// Record is one pool instance's liveness.
type Record struct {
	// LaunchedAt is when the reconciler launched it expecting a hand-off
	// and heartbeats. An instance without it (an older spotter's launch,
	// whose script does not beat, or one started by hand) is never judged.
	LaunchedAt time.Time `json:"launchedAt,omitzero"`
	// BootstrappedAt is when the instance's hand-off was granted.
	BootstrappedAt time.Time `json:"bootstrappedAt,omitzero"`
	// LastSeen is its last heartbeat written (or its hand-off).
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// State is what its last heartbeat said ("busy", "idle"), "" if none said.
	State string `json:"state,omitempty"`
	// DanglingSince is when the reconciler tagged it dangling, and
	// DanglingReason why; zero when it is not.
	DanglingSince  time.Time `json:"danglingSince,omitzero"`
	DanglingReason string    `json:"danglingReason,omitempty"`
}

// Seen is the last sign of life: its last heartbeat, or its hand-off.
func (r Record) Seen() time.Time {
	if r.LastSeen.After(r.BootstrappedAt) {
		return r.LastSeen
	}
	return r.BootstrappedAt
}

// Touched is the record's latest time of any kind: its launch, its last
// sign of life, or its dangling mark.
func (r Record) Touched() time.Time {
	t := r.Seen()
	for _, u := range []time.Time{r.LaunchedAt, r.DanglingSince} {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// Store reads and writes the records.
type Store struct{ st secrets.Store }

// New returns a Store over st.
func New(st secrets.Store) *Store { return &Store{st: st} }

// Key is the record's key.
func Key(pool, id string) string { return Prefix + pool + "/" + id }

// Update reads the record (zero if none), lets fn change it, and writes it
// with check-and-set, again on a conflict. fn returns false to write
// nothing (the record is as it should be).
func (s *Store) Update(ctx context.Context, pool, id string, fn func(r *Record) bool) error {
	key := Key(pool, id)
	for range 8 {
		var rec Record
		version := secrets.CreateOnly
		got, err := s.st.Get(ctx, key)
		switch {
		case errors.Is(err, secrets.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(got.Public, &rec); err != nil {
				return fmt.Errorf("liveness record %s: %w", key, err)
			}
			version = got.Version
		}
		if !fn(&rec) {
			return nil
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = s.st.Put(ctx, key, secrets.Record{Public: b}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("liveness record %s: written by many at once", key)
}

// List returns a pool's records by instance id. A record that does not
// parse is left out: the instance reads as one never heard from.
func (s *Store) List(ctx context.Context, pool string) (map[string]Record, error) {
	prefix := Prefix + pool + "/"
	keys, err := s.st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Record, len(keys))
	for _, k := range keys {
		got, err := s.st.Get(ctx, k)
		if errors.Is(err, secrets.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec Record
		if json.Unmarshal(got.Public, &rec) == nil {
			out[k[len(prefix):]] = rec
		}
	}
	return out, nil
}

// Delete drops an instance's record.
func (s *Store) Delete(ctx context.Context, pool, id string) error {
	return s.st.Delete(ctx, Key(pool, id))
}
