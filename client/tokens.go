package client

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spotter-dev/spotter/policy"
)

// The wire types below mirror the admin API's JSON (README, "HTTP API";
// server/openapi.json). They are declared here rather than imported from the server's
// packages so that the client depends on the published protocol only; the
// end-to-end tests against a real server keep the two in step.

// Credentials are the AWS credentials a token is created or rotated with:
// access keys, a role, or both (the role assumed with the keys).
type Credentials struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	RoleARN         string `json:"roleArn,omitempty"`
	ExternalID      string `json:"externalId,omitempty"`
}

// String keeps the secret out of anything that formats Credentials.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{accessKeyId:%s roleArn:%s}", MaskKey(c.AccessKeyID), c.RoleARN)
}

// GoString keeps the secret out of %#v too.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps the secret out of logs.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("accessKeyId", MaskKey(c.AccessKeyID)), slog.String("roleArn", c.RoleARN))
}

// MaskKey shows an access key id as AKIA…WXYZ: enough to recognise it.
func MaskKey(k string) string {
	switch {
	case k == "":
		return ""
	case len(k) < 12:
		return "…"
	}
	return k[:4] + "…" + k[len(k)-4:]
}

// MFA selects a token's second factor: an AWS MFA device, spotter's own
// TOTP, or neither (a nil *MFA).
type MFA struct {
	SerialNumber string `json:"serialNumber,omitempty"`
	TOTP         bool   `json:"totp,omitempty"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name             string         `json:"name"`
	Credentials      *Credentials   `json:"credentials"`
	MFA              *MFA           `json:"mfa,omitempty"`
	Policy           *policy.Policy `json:"policy,omitempty"`
	ExpiresIn        string         `json:"expiresIn,omitempty"`
	RequireSignature bool           `json:"requireSignature,omitempty"`
	Sources          *Sources       `json:"sources,omitempty"`
}

// Sources are the providers' secrets that let a token's hook URL take
// their webhooks (/hooks/<token>/slack, …). On rotate a source given with
// an empty secret is removed.
type Sources struct {
	Slack   *SlackSource   `json:"slack,omitempty"`
	Twilio  *TwilioSource  `json:"twilio,omitempty"`
	Mailgun *MailgunSource `json:"mailgun,omitempty"`
	IFTTT   *IFTTTSource   `json:"ifttt,omitempty"`
}

// SlackSource is the Slack app's signing secret.
type SlackSource struct {
	SigningSecret string `json:"signingSecret"`
}

// TwilioSource is the Twilio account's auth token.
type TwilioSource struct {
	AuthToken string `json:"authToken"`
}

// MailgunSource is the Mailgun domain's webhook signing key.
type MailgunSource struct {
	SigningKey string `json:"signingKey"`
}

// IFTTTSource is the secret an IFTTT applet sends (at least 32 characters).
type IFTTTSource struct {
	Secret string `json:"secret"`
}

// RotateTokenRequest is the body of POST /v1/tokens/{id}/rotate; name at
// least one thing to rotate.
type RotateTokenRequest struct {
	Credentials   *Credentials `json:"credentials,omitempty"`
	SigningSecret bool         `json:"signingSecret,omitempty"`
	TOTP          bool         `json:"totp,omitempty"`
	// Grace keeps the previous signing secret valid this long ("1h"); the
	// server's default applies when empty, "0s" ends it at once.
	Grace   string   `json:"grace,omitempty"`
	Sources *Sources `json:"sources,omitempty"`
}

// CredentialRef says which credentials a token uses without revealing them.
type CredentialRef struct {
	Type        string `json:"type"` // "keys" or "role"
	AccessKeyID string `json:"accessKeyId,omitempty"`
	RoleARN     string `json:"roleArn,omitempty"`
}

// MFAInfo says which second factor a token needs: "none", "aws" or "totp".
type MFAInfo struct {
	Type         string `json:"type"`
	SerialNumber string `json:"serialNumber,omitempty"`
}

// TokenInfo is what list and show return: nothing secret.
type TokenInfo struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	Status           string        `json:"status,omitempty"` // active, revoked or expired
	CreatedAt        time.Time     `json:"createdAt"`
	ExpiresAt        *time.Time    `json:"expiresAt,omitempty"`
	RevokedAt        *time.Time    `json:"revokedAt,omitempty"`
	RotatedAt        *time.Time    `json:"rotatedAt,omitempty"`
	Credentials      CredentialRef `json:"credentials"`
	MFA              MFAInfo       `json:"mfa"`
	Policy           policy.Policy `json:"policy"`
	RequireSignature bool          `json:"requireSignature"`
	KeyID            string        `json:"keyId,omitempty"`
	// Sources names the providers the hook URL takes webhooks from.
	Sources []string `json:"sources,omitempty"`
	// MFALock is the MFA failure record of a token with MFA; nil without.
	MFALock *MFALock `json:"mfaLock,omitempty"`
}

// MFALock counts a token's wrong MFA codes since its last right one. While
// Locked, every code is refused (429 mfa_locked) until LockedUntil or an
// unlock.
type MFALock struct {
	Locked      bool       `json:"locked"`
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`
	Failures    int        `json:"failures"`
	Lockouts    int        `json:"lockouts"`
}

// TOTPEnrolment is a new TOTP secret, shown once.
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauthUrl"`
	QRPNG      []byte `json:"qrPng"` // base64 in JSON
}

// CreatedToken is the reply to create: the only time the token and its
// secrets are shown.
type CreatedToken struct {
	TokenInfo
	Token         string         `json:"token"`
	URL           string         `json:"url"`
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// RotatedToken is the reply to rotate: the new secrets, shown once.
type RotatedToken struct {
	TokenInfo
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// RevokedToken is the reply to revoke.
type RevokedToken struct {
	ID        string    `json:"id"`
	RevokedAt time.Time `json:"revokedAt"`
}

// UnlockedToken is the reply to unlock.
type UnlockedToken struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// WasLocked says whether a lockout was in force and cleared.
	WasLocked bool    `json:"wasLocked"`
	MFALock   MFALock `json:"mfaLock"`
}

// KeyRotation is the reply to a signing-key rotation.
type KeyRotation struct {
	KeyID string `json:"keyId"`
}

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

// TokenPage is one page of tokens; NextCursor is "" on the last page.
type TokenPage struct {
	Tokens     []TokenInfo `json:"tokens"`
	NextCursor string      `json:"nextCursor,omitempty"`
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
