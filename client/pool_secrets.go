package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spotter-dev/spotter/api"
)

// secretCall is an admin call on one pool secret, its scope in the query.
func (c *Client) secretCall(ctx context.Context, method, pool, key, scope string, in, out any, want int) error {
	if c.adminToken == "" {
		return ErrNoAdminToken
	}
	u := c.base.JoinPath("/v1/pools", pool, "secrets", key)
	if scope != "" {
		u.RawQuery = url.Values{"scope": {scope}}.Encode()
	}
	cl := call{method: method, target: u, bearer: c.adminToken, out: out, want: want}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", method, err)
		}
		cl.body = b
	}
	return c.do(ctx, cl)
}

// SetPoolSecret stores one secret of a pool (scope "" for the whole
// pool); the value is never shown again.
func (c *Client) SetPoolSecret(ctx context.Context, pool, key, scope string, value []byte) (api.PoolSecretReply, error) {
	var out api.PoolSecretReply
	err := c.secretCall(ctx, http.MethodPut, pool, key, scope, api.PoolSecretRequest{Value: string(value)}, &out, http.StatusOK)
	out.Code = 0
	return out, err
}

// ListPoolSecrets names a pool's secrets, never their values.
func (c *Client) ListPoolSecrets(ctx context.Context, pool string) (api.PoolSecretsReply, error) {
	var out api.PoolSecretsReply
	err := c.admin(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(pool)+"/secrets", nil, &out, http.StatusOK)
	out.Code = 0
	return out, err
}

// RemovePoolSecret deletes one secret of a pool.
func (c *Client) RemovePoolSecret(ctx context.Context, pool, key, scope string) error {
	return c.secretCall(ctx, http.MethodDelete, pool, key, scope, nil, nil, http.StatusNoContent)
}
