package handlers

import (
	"encoding/json"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
)

// poolInfo is a stored pool as the admin API shows it, with its counts at
// now. The definition crosses by its JSON: api.Pool and pool.Pool have the
// same fields (TestPoolWireMatchesDefinition).
func poolInfo(r pools.Record, now time.Time) api.PoolInfo {
	var def api.Pool
	if b, err := json.Marshal(r.Pool); err == nil {
		_ = json.Unmarshal(b, &def)
	}
	c := r.Counts(now)
	out := api.PoolInfo{
		Pool: def, Status: r.Status(), Incarnation: r.Incarnation, Epoch: r.Epoch,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DeletedAt: r.DeletedAt,
		Capability: api.PoolCapability{KeyID: r.Capability.KeyID, IssuedAt: r.Capability.IssuedAt, RevokedAt: r.Capability.RevokedAt},
		Desired:    c.Desired, Hold: c.Hold, Running: c.Running, Booting: c.Booting, Idle: c.Idle, Pending: c.Pending,
		Instances: make([]api.PoolInstance, 0, len(r.Instances)),
	}
	if r.Demand != nil {
		d := demandOf(*r.Demand)
		out.Demand = &d
	}
	for _, i := range r.Instances {
		out.Instances = append(out.Instances, api.PoolInstance{ID: i.ID, InstanceType: i.InstanceType, State: string(i.State),
			Capacity: i.Capacity, Launched: i.Launched, IdleSince: timePtr(i.IdleSince), Price: i.Price, OnDemand: i.OnDemand,
			Interrupted: timePtr(i.Interrupted)})
	}
	return out
}

func createdPool(code int, out pools.Created, now time.Time) api.CreatedPool {
	return api.CreatedPool{Code: code, PoolInfo: poolInfo(out.Record, now), Token: out.Token, URL: out.URL}
}

func demandOf(d pool.Demand) api.PoolDemand {
	return api.PoolDemand{Pending: d.Pending, Running: d.Running, Idle: d.Idle, At: timePtr(d.At)}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
