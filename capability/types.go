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
)

// Info is the record the registry keeps in the clear about a token, and
// what list and show return: nothing secret. The registry takes and gives
// package api's types throughout; this one keeps its short name because
// Token embeds it (t.Info).
type Info = api.TokenRecord

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
