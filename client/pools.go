package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spotter-dev/spotter/api"
)

// CreatePool creates a pool. def is an api.Pool, or the definition as a
// person wrote it (json.RawMessage), sent with every key as written so the server
// judges exactly that: a misspelt or repeated field is refused, not
// dropped. The reply's Token and URL (the pool's capability) are shown
// once. Errors: *Error with Code "invalid_request" (the field first in
// Details) or "conflict" when the name is taken.
func (c *Client) CreatePool(ctx context.Context, def any) (api.CreatedPool, error) {
	var out api.CreatedPool
	err := c.admin(ctx, http.MethodPost, "/v1/pools", def, &out, http.StatusCreated)
	out.Code = 0 // as every admin reply the client returns (api/wire_tokens.go)
	return out, err
}

// ListPools returns every pool, by name.
func (c *Client) ListPools(ctx context.Context) ([]api.PoolInfo, error) {
	var out api.PoolPage
	err := c.admin(ctx, http.MethodGet, "/v1/pools", nil, &out, http.StatusOK)
	if out.Pools == nil {
		out.Pools = []api.PoolInfo{}
	}
	return out.Pools, err
}

// GetPool returns one pool. Errors: *Error with Code "not_found".
func (c *Client) GetPool(ctx context.Context, name string) (api.PoolInfo, error) {
	return c.poolCall(ctx, http.MethodGet, name, "", nil, http.StatusOK)
}

// UpdatePool merges patch into the pool's definition (a JSON merge patch:
// a field given replaces the stored one, null restores its default).
// patch is a map, a struct, or json.RawMessage sent unchanged.
func (c *Client) UpdatePool(ctx context.Context, name string, patch any) (api.PoolInfo, error) {
	return c.poolCall(ctx, http.MethodPatch, name, "", patch, http.StatusOK)
}

// DeletePool drains the pool and marks it deleted; it goes once its
// instances have ended.
func (c *Client) DeletePool(ctx context.Context, name string) (api.PoolInfo, error) {
	return c.poolCall(ctx, http.MethodDelete, name, "", nil, http.StatusAccepted)
}

// DrainPool makes the pool launch nothing and end instances as they idle.
func (c *Client) DrainPool(ctx context.Context, name string) (api.PoolInfo, error) {
	return c.poolCall(ctx, http.MethodPost, name, "/drain", nil, http.StatusOK)
}

// RevokePoolCapability refuses the pool's capability from now on.
func (c *Client) RevokePoolCapability(ctx context.Context, name string) (api.PoolInfo, error) {
	return c.poolCall(ctx, http.MethodPost, name, "/revoke", nil, http.StatusOK)
}

// RotatePoolCapability gives the pool a new capability, shown once in the
// reply; the old one is refused from then on.
func (c *Client) RotatePoolCapability(ctx context.Context, name string) (api.CreatedPool, error) {
	var out api.CreatedPool
	err := c.admin(ctx, http.MethodPost, "/v1/pools/"+url.PathEscape(name)+"/rotate", nil, &out, http.StatusOK)
	out.Code = 0
	return out, err
}

func (c *Client) poolCall(ctx context.Context, method, name, suffix string, in any, want int) (api.PoolInfo, error) {
	var out api.PoolReply
	err := c.admin(ctx, method, "/v1/pools/"+url.PathEscape(name)+suffix, in, &out, want)
	return out.PoolInfo, err
}

// ReportDemand sends a pool's demand with the admin token.
func (c *Client) ReportDemand(ctx context.Context, name string, d api.DemandRequest) (api.DemandReply, error) {
	var out api.DemandReply
	err := c.admin(ctx, http.MethodPost, "/v1/pools/"+url.PathEscape(name)+"/demand", d, &out, http.StatusOK)
	out.Code = 0
	return out, err
}

// ReportDemandByURL sends a pool's demand to its capability URL (as a
// create or rotate printed it) plus /demand; no admin token is needed.
func (c *Client) ReportDemandByURL(ctx context.Context, capabilityURL string, d api.DemandRequest) (api.DemandReply, error) {
	u, err := url.Parse(strings.TrimRight(capabilityURL, "/") + "/demand")
	if err != nil || !strings.Contains(u.Path, "/hooks/") {
		return api.DemandReply{}, fmt.Errorf("not a pool capability URL (https://…/hooks/<token>)")
	}
	b, err := json.Marshal(d)
	if err != nil {
		return api.DemandReply{}, err
	}
	var out api.DemandReply
	err = c.do(ctx, call{method: http.MethodPost, target: u, body: b, out: &out, want: http.StatusOK})
	out.Code = 0
	return out, err
}
