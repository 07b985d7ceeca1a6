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

// The admin API's requests and replies are package api's, which the
// server declares its side with too. The names below are the ones this
// package has always exported; each is the api type itself.
type (
	// Credentials are the AWS credentials a token is created or rotated
	// with; formatting and logging them masks the key and drops the secret.
	Credentials        = api.CredentialsInput
	MFA                = api.MFAInput
	CreateTokenRequest = api.CreateTokenRequest
	Sources            = api.SourcesInput
	SlackSource        = api.SlackSource
	TwilioSource       = api.TwilioSource
	MailgunSource      = api.MailgunSource
	IFTTTSource        = api.IFTTTSource
	RotateTokenRequest = api.RotateTokenRequest
	CredentialRef      = api.CredentialRef
	MFAInfo            = api.MFAInfo
	// TokenInfo is what list and show return: nothing secret.
	TokenInfo     = api.TokenInfo
	MFALock       = api.MFALock
	TOTPEnrolment = api.TOTPEnrolment
	CreatedToken  = api.CreatedToken
	RotatedToken  = api.RotatedToken
	RevokedToken  = api.RevokedToken
	UnlockedToken = api.UnlockedToken
	KeyRotation   = api.KeyRotation
	// TokenPage is one page of tokens; NextCursor is "" on the last page.
	TokenPage = api.TokenPage
)

// MaskKey shows an access key id as AKIA…WXYZ: enough to recognise it.
func MaskKey(k string) string { return api.MaskKey(k) }

// CreateToken registers credentials under a new capability token.
func (c *Client) CreateToken(ctx context.Context, in CreateTokenRequest) (CreatedToken, error) {
	var out CreatedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens", in, &out, http.StatusCreated)
	return out, err
}

// ListTokens returns every token, revoked and expired ones included, in id
// order, following the server's pages (the server's default page size).
// For very many tokens, prefer Tokens or ListTokensPage, which hold one page
// at a time.
func (c *Client) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	out := []TokenInfo{}
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
func (c *Client) ListTokensPage(ctx context.Context, o ListTokensOptions) (TokenPage, error) {
	if c.adminToken == "" {
		return TokenPage{}, ErrNoAdminToken
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
	var out TokenPage
	err := c.do(ctx, call{method: http.MethodGet, target: u, bearer: c.adminToken, out: &out, want: http.StatusOK})
	return out, err
}

// Tokens yields every token, fetching pages of limit (0: the server's
// default) as the loop asks for them. It stops at the first error, which it
// yields, and at a cursor the server repeats (which would never end).
func (c *Client) Tokens(ctx context.Context, limit int) iter.Seq2[TokenInfo, error] {
	return func(yield func(TokenInfo, error) bool) {
		seen := map[string]bool{}
		o := ListTokensOptions{Limit: limit}
		for {
			p, err := c.ListTokensPage(ctx, o)
			if err != nil {
				yield(TokenInfo{}, err)
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
				yield(TokenInfo{}, fmt.Errorf("GET /v1/tokens: the server repeated cursor %q", p.NextCursor))
				return
			}
			seen[p.NextCursor] = true
			o.Cursor = p.NextCursor
		}
	}
}

// GetToken returns one token. Errors: *Error with Code "not_found" when
// there is no such token.
func (c *Client) GetToken(ctx context.Context, id string) (TokenInfo, error) {
	var out TokenInfo
	err := c.admin(ctx, http.MethodGet, "/v1/tokens/"+url.PathEscape(id), nil, &out, http.StatusOK)
	return out, err
}

// RevokeToken revokes a token for good.
func (c *Client) RevokeToken(ctx context.Context, id string) (RevokedToken, error) {
	var out RevokedToken
	err := c.admin(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, &out, http.StatusOK)
	return out, err
}

// RotateToken replaces a token's credentials, signing secret and/or TOTP
// secret; its URL stays valid.
func (c *Client) RotateToken(ctx context.Context, id string, in RotateTokenRequest) (RotatedToken, error) {
	var out RotatedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(id)+"/rotate", in, &out, http.StatusOK)
	return out, err
}

// UnlockToken clears a token's MFA lockout, wrong-code count and back-off.
// Errors: *Error with Code "invalid_request" for a token without MFA.
func (c *Client) UnlockToken(ctx context.Context, id string) (UnlockedToken, error) {
	var out UnlockedToken
	err := c.admin(ctx, http.MethodPost, "/v1/tokens/"+url.PathEscape(id)+"/unlock", nil, &out, http.StatusOK)
	return out, err
}

// RotateKeys makes a new token-signing key. New tokens are signed with it;
// tokens signed with older keys stay valid until they expire or are revoked.
func (c *Client) RotateKeys(ctx context.Context) (KeyRotation, error) {
	var out KeyRotation
	err := c.admin(ctx, http.MethodPost, "/v1/keys/rotate", nil, &out, http.StatusOK)
	return out, err
}
