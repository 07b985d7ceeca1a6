package api

import "time"

// MFA kinds, as TokenRecord.MFA.Type names them.
const (
	MFANone = "none"
	MFAAWS  = "aws"  // the caller's code goes to STS GetSessionToken
	MFATOTP = "totp" // spotter checks the code itself
)

// MFAInput selects a token's second factor: an AWS MFA device, spotter's
// own TOTP, or neither (a nil *MFAInput).
type MFAInput struct {
	SerialNumber string `json:"serialNumber,omitempty"`
	TOTP         bool   `json:"totp,omitempty"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name             string            `json:"name"`
	Credentials      *CredentialsInput `json:"credentials"`
	MFA              *MFAInput         `json:"mfa,omitempty"`
	Policy           *Policy           `json:"policy,omitempty"`
	ExpiresIn        string            `json:"expiresIn,omitempty"`
	RequireSignature bool              `json:"requireSignature,omitempty"`
	Sources          *SourcesInput     `json:"sources,omitempty"`
}

// RotateTokenRequest is the body of POST /v1/tokens/{id}/rotate. Each part
// is optional; name at least one.
type RotateTokenRequest struct {
	Credentials   *CredentialsInput `json:"credentials,omitempty"`
	SigningSecret bool              `json:"signingSecret,omitempty"`
	TOTP          bool              `json:"totp,omitempty"`
	// Grace keeps the previous signing secret valid this long ("1h"), so
	// callers can switch without a failed request. Default 1h, "0s" for none.
	Grace string `json:"grace,omitempty"`
	// Sources sets, replaces or (with an empty secret) removes source settings.
	Sources *SourcesInput `json:"sources,omitempty"`
}

// TokenRecord is what the server keeps in the clear about a token, and the
// core of every admin reply about one: nothing secret.
type TokenRecord struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	CreatedAt        time.Time     `json:"createdAt"`
	ExpiresAt        *time.Time    `json:"expiresAt,omitempty"`
	RevokedAt        *time.Time    `json:"revokedAt,omitempty"`
	RotatedAt        *time.Time    `json:"rotatedAt,omitempty"`
	Credentials      CredentialRef `json:"credentials"`
	MFA              MFAInfo       `json:"mfa"`
	Policy           Policy        `json:"policy"`
	RequireSignature bool          `json:"requireSignature"`
	KeyID            string        `json:"keyId"`
	// Sources names the sources with settings (slack, twilio…), never a secret.
	Sources []string `json:"sources,omitempty"`
}

// Token statuses, as TokenRecord.Status gives them.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Status returns StatusActive, StatusRevoked or StatusExpired at now.
func (r TokenRecord) Status(now time.Time) string {
	switch {
	case r.RevokedAt != nil:
		return StatusRevoked
	case r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// MFAInfo says which second factor a token needs: Type is MFANone, MFAAWS
// (with the device's SerialNumber) or MFATOTP.
type MFAInfo struct {
	Type         string `json:"type"`
	SerialNumber string `json:"serialNumber,omitempty"`
}

// MFALock counts a token's wrong MFA codes since its last right one. While
// Locked, every code is refused (429 mfa_locked) until LockedUntil or an
// unlock.
type MFALock struct {
	Locked      bool       `json:"locked"`
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`
	// Failures counts wrong codes since the last accepted one, in the window.
	Failures int `json:"failures"`
	// Lockouts counts lockouts since the last accepted code; each lasts
	// longer than the one before.
	Lockouts int `json:"lockouts"`
}

// TokenInfo is a token as the admin API shows it: its record, its status
// when the reply was made and, in show and list, the MFA failure record of
// a token with MFA (nil without).
type TokenInfo struct {
	TokenRecord
	Status  string   `json:"status"`
	MFALock *MFALock `json:"mfaLock,omitempty"`
}

// Every admin reply below carries Code, the HTTP status, as the server
// writes it (never 0). The client zeroes it, so the replies it returns and
// the CLI prints hold what the reply says and not how it was sent.

// TokenReply is the reply to GET /v1/tokens/{id}.
type TokenReply struct {
	Code int `json:"code,omitempty"`
	TokenInfo
}

// TokenPage is the reply to GET /v1/tokens: one page of tokens in id order.
// NextCursor, for the next page, is "" (absent) on the last page.
type TokenPage struct {
	Code       int         `json:"code,omitempty"`
	Tokens     []TokenInfo `json:"tokens"`
	NextCursor string      `json:"nextCursor,omitempty"`
}

// TOTPEnrolment is a new TOTP secret, shown once.
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauthUrl"`
	QRPNG      []byte `json:"qrPng"` // base64 in JSON
}

// CreatedToken is the reply to POST /v1/tokens: the only time the token
// and its secrets are shown.
type CreatedToken struct {
	Code int `json:"code,omitempty"`
	TokenInfo
	Token         string         `json:"token"`
	URL           string         `json:"url"`
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// RotatedToken is the reply to POST /v1/tokens/{id}/rotate: the new
// secrets, shown once.
type RotatedToken struct {
	Code int `json:"code,omitempty"`
	TokenInfo
	TOTP          *TOTPEnrolment `json:"totp,omitempty"`
	SigningSecret string         `json:"signingSecret,omitempty"`
}

// RevokedToken is the reply to DELETE /v1/tokens/{id}.
type RevokedToken struct {
	Code      int       `json:"code,omitempty"`
	ID        string    `json:"id"`
	RevokedAt time.Time `json:"revokedAt"`
	Status    string    `json:"status"`
}

// UnlockedToken is the reply to POST /v1/tokens/{id}/unlock.
type UnlockedToken struct {
	Code   int    `json:"code,omitempty"`
	ID     string `json:"id"`
	Status string `json:"status"`
	// WasLocked says whether a lockout was in force and cleared.
	WasLocked bool    `json:"wasLocked"`
	MFALock   MFALock `json:"mfaLock"`
}

// KeyRotation is the reply to POST /v1/keys/rotate.
type KeyRotation struct {
	Code  int    `json:"code,omitempty"`
	KeyID string `json:"keyId"`
}
