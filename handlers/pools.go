package handlers

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/ratelimit"
)

// CreatePool stores a pool and returns its capability URL, once.
func CreatePool(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		var p pool.Pool
		if err := decodeAdmin(c, &p); err != nil {
			return err
		}
		out, err := reg.Create(c.Request().Context(), p)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, createdPool(http.StatusCreated, out, reg.Now()))
	}
}

// ListPools lists every pool, by name.
func ListPools(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		recs, err := reg.List(c.Request().Context())
		if err != nil {
			return err
		}
		page := api.PoolPage{Code: http.StatusOK, Pools: make([]api.PoolInfo, 0, len(recs))}
		for _, r := range recs {
			page.Pools = append(page.Pools, poolInfo(r, reg.Now()))
		}
		return c.JSON(http.StatusOK, page)
	}
}

// GetPool shows one pool: definition, state and instances.
func GetPool(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := reg.Get(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolReply{Code: http.StatusOK, PoolInfo: poolInfo(r, reg.Now())})
	}
}

// UpdatePool merges a JSON object into the pool's definition (RFC 7396:
// a field given replaces the stored one, null restores its default, lists
// are replaced whole) and checks the result as a create would.
func UpdatePool(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		var patch map[string]json.RawMessage
		body, err := readBody(c)
		if err != nil {
			return err
		}
		if !isJSON(c, body) {
			return apperr.New(apperr.Unsupported, "send JSON (Content-Type: application/json)")
		}
		if err := checkKeys(body, &pool.Pool{}); err != nil {
			return err
		}
		if err := decodeJSON(body, &patch); err != nil {
			return err
		}
		r, err := reg.Redefine(c.Request().Context(), c.Param("name"), func(cur pool.Pool) (pool.Pool, error) {
			return mergePool(cur, patch)
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolReply{Code: http.StatusOK, PoolInfo: poolInfo(r, reg.Now())})
	}
}

// poolFields maps each pool field's JSON name, lower-cased, to its name:
// a patch key matches a field as encoding/json does, regardless of case
// (checkKeys has already refused two keys for one field).
var poolFields = func() map[string]string {
	m := map[string]string{}
	t := reflect.TypeFor[pool.Pool]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[strings.ToLower(name)] = name
	}
	return m
}()

// mergePool applies a merge patch to cur. Every pool field is a scalar or
// a list, so the merge is one level deep; the result is decoded as
// strictly as a create's body.
func mergePool(cur pool.Pool, patch map[string]json.RawMessage) (pool.Pool, error) {
	b, err := json.Marshal(cur)
	if err != nil {
		return pool.Pool{}, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return pool.Pool{}, err
	}
	for k, v := range patch {
		name, ok := poolFields[strings.ToLower(k)]
		if !ok {
			return pool.Pool{}, apperr.New(apperr.Invalid, "unknown field %q", truncate(k, 64))
		}
		if string(v) == "null" {
			delete(doc, name)
			continue
		}
		doc[name] = v
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return pool.Pool{}, err
	}
	var next pool.Pool
	if err := decodeJSON(merged, &next); err != nil {
		return pool.Pool{}, err
	}
	return next, nil
}

// DeletePool drains the pool and marks it deleted: 202, since its
// instances end (and its record goes) only as the reconciler gets to them.
func DeletePool(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := reg.Delete(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, api.PoolReply{Code: http.StatusAccepted, PoolInfo: poolInfo(r, reg.Now())})
	}
}

// DrainPool makes the pool launch nothing and end instances as they idle.
func DrainPool(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := reg.Drain(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolReply{Code: http.StatusOK, PoolInfo: poolInfo(r, reg.Now())})
	}
}

// RotatePoolCapability gives the pool a new capability URL, shown once;
// the old one is refused from then on.
func RotatePoolCapability(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		out, err := reg.RotateCapability(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, createdPool(http.StatusOK, out, reg.Now()))
	}
}

// RevokePoolCapability refuses the pool's capability from now on.
func RevokePoolCapability(reg *pools.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := reg.RevokeCapability(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolReply{Code: http.StatusOK, PoolInfo: poolInfo(r, reg.Now())})
	}
}

// DemandLimit bounds demand reports per pool on each replica. A report is
// one store write, so the limit keeps a runaway sender (or a leaked URL)
// from loading the store; a cron sends one every 10 s or more.
type DemandLimit struct {
	// PerSecond is the refill rate and Burst the reports allowed at once.
	PerSecond float64
	Burst     int
	// Store keeps each pool's budget, so the limit holds across every
	// replica sharing it; nil keeps it in memory, for this replica alone.
	Store ratelimit.Store
}

// DefaultDemandLimit is 1 report a second with bursts of 10.
var DefaultDemandLimit = DemandLimit{PerSecond: 1, Burst: 10}

// PoolDemand takes a pool's demand report, authenticated by the admin
// token or the pool's own capability as Authorization: Bearer
// (POST /v1/pools/{name}/demand), or by the capability in the path
// (POST /hooks/<pool capability>/demand, the URL a create prints plus
// "/demand", for senders that cannot set a header).
type PoolDemand struct {
	reg     *pools.Registry
	admin   AdminChecker
	limiter *ratelimit.Limiter
}

// NewPoolDemand returns the demand handlers with their per-pool limit.
func NewPoolDemand(reg *pools.Registry, admin AdminChecker, lim DemandLimit) *PoolDemand {
	if lim.PerSecond <= 0 || lim.Burst <= 0 {
		lim.PerSecond, lim.Burst = DefaultDemandLimit.PerSecond, DefaultDemandLimit.Burst
	}
	return &PoolDemand{reg: reg, admin: admin, limiter: ratelimit.New(lim.Store, "demand", ratelimit.Limit{PerSecond: lim.PerSecond, Burst: lim.Burst}, reg.Now)}
}

// ByName serves POST /v1/pools/{name}/demand.
func (h *PoolDemand) ByName(c echo.Context) error {
	name := c.Param("name")
	auth := c.Request().Header.Get(echo.HeaderAuthorization)
	if h.admin.Check(auth) != nil {
		raw, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || strings.TrimSpace(raw) == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="spotter-pool"`)
			return apperr.New(apperr.Unauth, "send the pool's capability or the admin token as Authorization: Bearer <token>")
		}
		r, err := h.reg.Authenticate(c.Request().Context(), strings.TrimSpace(raw))
		if err != nil {
			return err
		}
		if r.Pool.Name != name {
			return apperr.New(apperr.Forbidden, "this capability is pool %s's, not %s's", r.Pool.Name, truncate(name, 64))
		}
	}
	return h.report(c, name)
}

// ByURL serves POST /hooks/<pool capability>/demand.
func (h *PoolDemand) ByURL(c echo.Context) error {
	r, err := h.reg.Authenticate(c.Request().Context(), c.Param("token"))
	if err != nil {
		return err
	}
	return h.report(c, r.Pool.Name)
}

func (h *PoolDemand) report(c echo.Context, name string) error {
	ok, wait, err := h.limiter.Allow(c.Request().Context(), name)
	if err != nil {
		return err
	}
	if !ok {
		return &apperr.Error{Code: apperr.RateLimited, RetryAfter: wait,
			Details: "pool " + name + " takes demand reports at most " + demandRate(h.limiter.Every()) + ", across all replicas; send the latest counts, not every change"}
	}
	var in api.DemandRequest
	if err := decodeAdmin(c, &in); err != nil {
		return err
	}
	r, err := h.reg.ReportDemand(c.Request().Context(), name, pool.Demand{Pending: in.Pending, Running: in.Running, Idle: in.Idle})
	if err != nil {
		return err
	}
	counts := r.Counts(h.reg.Now())
	return c.JSON(http.StatusOK, api.DemandReply{Code: http.StatusOK, Pool: name, Demand: demandOf(*r.Demand),
		Desired: counts.Desired, Hold: counts.Hold})
}

// demandRate words a refill interval for a refusal's details.
func demandRate(every time.Duration) string {
	if every <= time.Second {
		return "about once a second"
	}
	return "once every " + every.Round(time.Second).String()
}
