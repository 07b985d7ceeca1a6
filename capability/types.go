// Package capability is the registry of capability tokens: it creates them
// with their sealed credentials, lists, revokes and rotates them, and guards
// every task request in the documented order — token, revocation and expiry,
// body signature, policy, MFA.
//
// It sits between handlers and the leaves: handlers → capability →
// {token, secrets, policy}.
package capability

import (
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/policy"
)

// MFA kinds.
const (
	MFANone = "none"
	MFAAWS  = "aws"  // the caller's code goes to STS GetSessionToken
	MFATOTP = "totp" // spotter checks the code itself
)

// CredentialsInput is what an operator registers. Secret fields are sealed
// at once and never returned.
type CredentialsInput struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	RoleARN         string `json:"roleArn,omitempty"`
	ExternalID      string `json:"externalId,omitempty"`
}

// MFAInput selects the token's second factor.
type MFAInput struct {
	SerialNumber string `json:"serialNumber,omitempty"`
	TOTP         bool   `json:"totp,omitempty"`
}

// CreateInput is the body of POST /v1/tokens.
type CreateInput struct {
	Name             string            `json:"name"`
	Credentials      *CredentialsInput `json:"credentials"`
	MFA              *MFAInput         `json:"mfa,omitempty"`
	Policy           *policy.Policy    `json:"policy,omitempty"`
	ExpiresIn        string            `json:"expiresIn,omitempty"`
	RequireSignature bool              `json:"requireSignature,omitempty"`
	Sources          *SourcesInput     `json:"sources,omitempty"`
}

// RotateInput is the body of POST /v1/tokens/{id}/rotate. Each part is optional.
type RotateInput struct {
	Credentials   *CredentialsInput `json:"credentials,omitempty"`
	SigningSecret bool              `json:"signingSecret,omitempty"`
	TOTP          bool              `json:"totp,omitempty"`
	// Grace keeps the previous signing secret valid this long ("1h"), so
	// callers can switch without a failed request. Default 1h, "0s" for none.
	Grace string `json:"grace,omitempty"`
	// Sources sets, replaces or (with an empty secret) removes source settings.
	Sources *SourcesInput `json:"sources,omitempty"`
}

// TOTPEnrolment is returned once, when a TOTP secret is made.
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauthUrl"`
	QRPNG      []byte `json:"qrPng"` // base64 in JSON
}

// Created is the reply to create: the only time the token and its secrets are shown.
type Created struct {
	Info
	Token         string         `json:"token"`
	URL           string         `json:"url"`
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// Rotated is the reply to rotate: new secrets, shown once.
type Rotated struct {
	Info
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// Info is what list and show return: nothing secret.
type Info struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	CreatedAt        time.Time     `json:"createdAt"`
	ExpiresAt        *time.Time    `json:"expiresAt,omitempty"`
	RevokedAt        *time.Time    `json:"revokedAt,omitempty"`
	RotatedAt        *time.Time    `json:"rotatedAt,omitempty"`
	Credentials      CredentialRef `json:"credentials"`
	MFA              MFAInfo       `json:"mfa"`
	Policy           policy.Policy `json:"policy"`
	RequireSignature bool          `json:"requireSignature"`
	KeyID            string        `json:"keyId"`
	// Sources names the sources with settings (slack, twilio…), never a secret.
	Sources []string `json:"sources,omitempty"`
}

// CredentialRef says which credentials a token uses without revealing them.
type CredentialRef struct {
	Type        string `json:"type"`                  // "keys" or "role"
	AccessKeyID string `json:"accessKeyId,omitempty"` // masked: AKIA…WXYZ
	RoleARN     string `json:"roleArn,omitempty"`
}

// MFAInfo says which second factor a token needs.
type MFAInfo struct {
	Type         string `json:"type"`
	SerialNumber string `json:"serialNumber,omitempty"`
}

// Status returns "active", "revoked" or "expired" at now.
func (i Info) Status(now time.Time) string {
	switch {
	case i.RevokedAt != nil:
		return "revoked"
	case i.ExpiresAt != nil && !now.Before(*i.ExpiresAt):
		return "expired"
	}
	return "active"
}

// sealed is the secret part of a token record: sealed under the token id.
type sealed struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	ExternalID      string `json:"externalId,omitempty"`
	TOTPSecret      string `json:"totpSecret,omitempty"`
	// SigningSecrets holds the current secret first, then any still in grace.
	SigningSecrets []signingSecret `json:"signingSecrets,omitempty"`
	Sources        sourceSecrets   `json:"sources,omitzero"`
}

type signingSecret struct {
	Secret string     `json:"secret"`
	Until  *time.Time `json:"until,omitempty"`
}

// Credentials are a token's decrypted AWS credentials, for one call only
// (api declares them, with their redaction).
type Credentials = api.Credentials

// maskKey shows an access key id as AKIA…WXYZ: enough to recognise it.
func maskKey(k string) string {
	if len(k) < 12 {
		if k == "" {
			return ""
		}
		return "…"
	}
	return k[:4] + "…" + k[len(k)-4:]
}
