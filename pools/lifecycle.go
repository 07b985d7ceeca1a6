package pools

import (
	"context"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/token"
)

func deleting(name string) error {
	return apperr.New(apperr.Conflict, "pool %s is being deleted: it drains and takes no demand or changes", name)
}

// Redefine replaces a pool's definition with what change makes of the
// current one, checked again in full against its token. The name is the
// pool's key and cannot change.
func (r *Registry) Redefine(ctx context.Context, name string, change func(pool.Pool) (pool.Pool, error)) (Record, error) {
	rec, err := r.operatorUpdate(ctx, name, func(rec *Record) error {
		if rec.DeletedAt != nil {
			return deleting(name)
		}
		next, err := change(rec.Pool)
		if err != nil {
			return err
		}
		if next.Name != name {
			return apperr.New(apperr.Invalid, "name: a pool cannot be renamed; create %q and delete %q instead", truncate(next.Name, 64), name)
		}
		if err := r.check(ctx, &next); err != nil {
			return err
		}
		rec.Pool = next
		return nil
	})
	if err == nil {
		r.log.InfoContext(ctx, "pool updated", "pool", name, "token_id", rec.Pool.TokenID)
	}
	return rec, err
}

// Drain makes the pool launch nothing and end its instances as they go
// idle. Draining a draining pool changes nothing.
func (r *Registry) Drain(ctx context.Context, name string) (Record, error) {
	rec, err := r.operatorUpdate(ctx, name, func(rec *Record) error {
		rec.Pool.Draining = true
		return nil
	})
	if err == nil {
		r.log.InfoContext(ctx, "pool draining", "pool", name)
	}
	return rec, err
}

// Delete drains the pool, revokes its capability and marks it deleted.
// The record stays, refusing demand and changes, until the reconciler has
// ended its instances and calls Remove: deleting never strands an
// instance that no record names.
func (r *Registry) Delete(ctx context.Context, name string) (Record, error) {
	rec, err := r.operatorUpdate(ctx, name, func(rec *Record) error {
		now := r.now().UTC().Truncate(time.Second)
		if rec.DeletedAt == nil {
			rec.DeletedAt = &now
		}
		if rec.Capability.RevokedAt == nil {
			rec.Capability.RevokedAt = &now
		}
		rec.Pool.Draining = true
		return nil
	})
	if err == nil {
		r.log.InfoContext(ctx, "pool deleting", "pool", name, "instances", len(rec.Instances))
	}
	return rec, err
}

// Remove drops a deleted pool's record once it names no instance: the
// reconciler's last step of a delete, under its lease on the pool.
func (r *Registry) Remove(ctx context.Context, name string) error {
	rec, err := r.Get(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case rec.DeletedAt == nil:
		return apperr.New(apperr.Conflict, "pool %s is not deleted; delete it first", name)
	case len(rec.Instances) > 0:
		return apperr.New(apperr.Conflict, "pool %s still has %d instances", name, len(rec.Instances))
	}
	if err := r.store.Delete(ctx, Prefix+name); err != nil {
		return err
	}
	r.log.InfoContext(ctx, "pool removed", "pool", name)
	return nil
}

// ReportDemand stores d, stamped with its receipt time, as the pool's
// last demand.
func (r *Registry) ReportDemand(ctx context.Context, name string, d pool.Demand) (Record, error) {
	if err := d.Validate(); err != nil {
		return Record{}, err
	}
	rec, err := r.Update(ctx, name, func(rec *Record) error {
		if rec.DeletedAt != nil {
			return deleting(name)
		}
		d.At = r.now().UTC()
		rec.Demand = &d
		return nil
	})
	if err == nil {
		r.onDemand(name)
	}
	return rec, err
}

// Authenticate verifies a pool capability and returns its pool. A
// capability of a deleted, re-created or rotated pool, or a revoked one,
// is refused as revoked: the signature alone never suffices.
func (r *Registry) Authenticate(ctx context.Context, raw string) (Record, error) {
	claims, err := r.auth.Verify(ctx, token.Pool, raw)
	if err != nil {
		return Record{}, err
	}
	rec, err := r.Get(ctx, claims.ID)
	switch {
	case apperr.Code(err) == apperr.NotFound:
		return Record{}, apperr.New(apperr.TokenRevoked, "this pool capability's pool is gone")
	case err != nil:
		return Record{}, err
	case rec.Capability.JTI != claims.JTI:
		return Record{}, apperr.New(apperr.TokenRevoked, "this pool capability was replaced; use the URL of the latest create or rotate")
	case rec.Capability.RevokedAt != nil:
		return Record{}, apperr.New(apperr.TokenRevoked, "this pool capability was revoked; `spotter pool rotate` makes a new one")
	}
	return rec, nil
}

// RotateCapability gives the pool a new capability, returned once; the
// previous one is refused from now on, on every replica (each use reads
// the record).
func (r *Registry) RotateCapability(ctx context.Context, name string) (Created, error) {
	var tok string
	rec, err := r.operatorUpdate(ctx, name, func(rec *Record) error {
		if rec.DeletedAt != nil {
			return deleting(name)
		}
		var err error
		tok, err = r.issue(ctx, rec)
		return err
	})
	if err != nil {
		return Created{}, err
	}
	r.log.InfoContext(ctx, "pool capability rotated", "pool", name)
	return Created{Record: rec, Token: tok, URL: r.URL(tok)}, nil
}

// RevokeCapability refuses the pool's capability from now on; the pool
// keeps running on the demand it had and the admin token.
func (r *Registry) RevokeCapability(ctx context.Context, name string) (Record, error) {
	rec, err := r.operatorUpdate(ctx, name, func(rec *Record) error {
		if rec.Capability.RevokedAt == nil {
			now := r.now().UTC().Truncate(time.Second)
			rec.Capability.RevokedAt = &now
		}
		return nil
	})
	if err == nil {
		r.log.InfoContext(ctx, "pool capability revoked", "pool", name)
	}
	return rec, err
}

// Counts are a pool's capacity at a glance, in capacity units (jobs).
type Counts struct {
	// Desired is what a decision would aim at now (pool.Decide on the
	// stored state); Hold says why demand is not acted on, if it is not.
	Desired int
	Hold    string
	Running int // busy instances' units
	Booting int
	Idle    int
	Pending int // the last demand's pending jobs
}

// Counts reads rec's state at now.
func (rec Record) Counts(now time.Time) Counts {
	var c Counts
	var d pool.Demand
	if rec.Demand != nil {
		d = *rec.Demand
		c.Pending = d.Pending
	}
	for _, i := range rec.Instances {
		switch i.State {
		case pool.Busy:
			c.Running += i.Capacity
		case pool.Booting:
			c.Booting += i.Capacity
		case pool.Idle:
			c.Idle += i.Capacity
		}
	}
	dec := pool.Decide(pool.Input{Pool: rec.Pool, Demand: d, Instances: rec.Instances, Now: now,
		LastScaleOut: rec.LastScaleOut, LastScaleIn: rec.LastScaleIn, Incarnation: rec.Incarnation, Epoch: rec.Epoch})
	c.Desired, c.Hold = dec.Desired, dec.Hold
	return c
}
