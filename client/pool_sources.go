package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/spotter-dev/spotter/api"
)

// GetPoolSources returns a pool's CI sources, secrets only as set or not.
func (c *Client) GetPoolSources(ctx context.Context, name string) (api.PoolSourcesReply, error) {
	var out api.PoolSourcesReply
	err := c.admin(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name)+"/sources", nil, &out, http.StatusOK)
	out.Code = 0
	return out, err
}

// UpdatePoolSources merges patch (api.PoolSources, a map, or
// json.RawMessage sent unchanged) into a pool's CI sources.
func (c *Client) UpdatePoolSources(ctx context.Context, name string, patch any) (api.PoolSourcesReply, error) {
	var out api.PoolSourcesReply
	err := c.admin(ctx, http.MethodPatch, "/v1/pools/"+url.PathEscape(name)+"/sources", patch, &out, http.StatusOK)
	out.Code = 0
	return out, err
}
