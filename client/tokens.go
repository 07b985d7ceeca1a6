package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spotter-dev/spotter/api"
)

// CreateToken registers credentials under a new capability token.
func (c *Client) CreateToken(ctx context.Context, in api.CreateTokenRequest) (api.CreatedToken, error) {
	var out api.CreatedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens", in, &out, http.StatusCreated)
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}

// ListTokens returns every token, revoked and expired ones included, in id
// order, following the server's pages (the server's default page size).
// For very many tokens, prefer Tokens or ListTokensPage, which hold one page
// at a time.
func (c *Client) ListTokens(ctx context.Context) ([]api.TokenInfo, error) {
	out := []api.TokenInfo{}
	for t, err := range c.Tokens(ctx, 0) {
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ListTokensOptions selects one page of GET /v1/tokens. Limit 0 is the
// server's default (100); the server refuses more than 1,000. Cursor is the
// previous page's NextCursor, "" for the first page.
type ListTokensOptions struct {
	Limit  int
	Cursor string
}

// ListTokensPage returns one page of tokens in id order. Errors: *Error with
// Code "invalid_request" for a limit out of range or a cursor the server
// did not give out.
func (c *Client) ListTokensPage(ctx context.Context, o ListTokensOptions) (api.TokenPage, error) {
	if c.adminToken == "" {
		return api.TokenPage{}, ErrNoAdminToken
	}
	u := c.base.JoinPath("/v1/tokens")
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	u.RawQuery = q.Encode()
	var out api.TokenPage
	err := c.do(ctx, call{method: http.MethodGet, target: u, bearer: c.adminToken, out: &out, want: http.StatusOK})
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}

// Tokens yields every token, fetching pages of limit (0: the server's
// default) as the loop asks for them. It stops at the first error, which it
// yields, and at a cursor the server repeats (which would never end).
func (c *Client) Tokens(ctx context.Context, limit int) iter.Seq2[api.TokenInfo, error] {
	return func(yield func(api.TokenInfo, error) bool) {
		seen := map[string]bool{}
		o := ListTokensOptions{Limit: limit}
		for {
			p, err := c.ListTokensPage(ctx, o)
			if err != nil {
				yield(api.TokenInfo{}, err)
				return
			}
			for _, t := range p.Tokens {
				if !yield(t, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			if seen[p.NextCursor] {
				yield(api.TokenInfo{}, fmt.Errorf("GET /v1/tokens: the server repeated cursor %q", p.NextCursor))
				return
			}
			seen[p.NextCursor] = true
			o.Cursor = p.NextCursor
		}
	}
}

// GetToken returns one token. Errors: *Error with Code "not_found" when
// there is no such token.
func (c *Client) GetToken(ctx context.Context, id string) (api.TokenInfo, error) {
	var out api.TokenInfo
	err := c.admin(ctx, http.MethodGet, "/v1/tokens/"+url.PathEscape(id), nil, &out, http.StatusOK)
	return out, err
}

// RevokeToken revokes a token for good.
func (c *Client) RevokeToken(ctx context.Context, id string) (api.RevokedToken, error) {
	var out api.RevokedToken
	err := c.admin(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &out, http.StatusOK)
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}

// RotateToken replaces a token's credentials, signing secret and/or TOTP
// secret; its URL stays valid.
func (c *Client) RotateToken(ctx context.Context, id string, in api.RotateTokenRequest) (api.RotatedToken, error) {
	var out api.RotatedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(id)+"/rotate", in, &out, http.StatusOK)
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}

// UnlockToken clears a token's MFA lockout, wrong-code count and back-off.
// Errors: *Error with Code "invalid_request" for a token without MFA.
func (c *Client) UnlockToken(ctx context.Context, id string) (api.UnlockedToken, error) {
	var out api.UnlockedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(id)+"/unlock", nil, &out, http.StatusOK)
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}

// RotateKeys makes a new token-signing key. New tokens are signed with it;
// tokens signed with older keys stay valid until they expire or are revoked.
func (c *Client) RotateKeys(ctx context.Context) (api.KeyRotation, error) {
	var out api.KeyRotation
	err := c.admin(ctx, http.MethodPost, "/v1/keys/rotate", nil, &out, http.StatusOK)
	out.Code = 0 // the call succeeding says it; see api.TokenReply
	return out, err
}
