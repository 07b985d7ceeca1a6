package api

import (
	"fmt"
	"log/slog"
)

// CredentialsInput are the AWS credentials a token is created or rotated
// with: access keys, a role, or both (the role assumed with the keys). The
// server seals them at once and never returns them (SecretAccessKey and
// ExternalID are write-only); CredentialRef is what replies show instead.
type CredentialsInput struct {
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	RoleARN         string `json:"roleArn,omitempty"`
	ExternalID      string `json:"externalId,omitempty"`
}

// String keeps the secret out of anything that formats CredentialsInput.
func (c CredentialsInput) String() string {
	return fmt.Sprintf("Credentials{accessKeyId:%s roleArn:%s}", MaskKey(c.AccessKeyID), c.RoleARN)
}

// GoString keeps the secret out of %#v too.
func (c CredentialsInput) GoString() string { return c.String() }

// LogValue keeps the secret out of logs.
func (c CredentialsInput) LogValue() slog.Value {
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

// CredentialRef says which credentials a token uses without revealing them.
type CredentialRef struct {
	Type        string `json:"type"`                  // "keys" or "role"
	AccessKeyID string `json:"accessKeyId,omitempty"` // masked: AKIA…WXYZ
	RoleARN     string `json:"roleArn,omitempty"`
}

// Sources: the providers a token's hook URL can take requests from
// (/hooks/<token>/<source>), each verified with a secret the operator
// copies from the provider.
const (
	SourceSlack   = "slack"
	SourceTwilio  = "twilio"
	SourceMailgun = "mailgun"
	SourceIFTTT   = "ifttt"
)

// SourcesInput sets a token's source settings on create or rotate. On
// rotate, a source left out is kept, and a source given with an empty
// secret is removed. Every secret in it is write-only.
type SourcesInput struct {
	Slack   *SlackSource   `json:"slack,omitempty"`
	Twilio  *TwilioSource  `json:"twilio,omitempty"`
	Mailgun *MailgunSource `json:"mailgun,omitempty"`
	IFTTT   *IFTTTSource   `json:"ifttt,omitempty"`
}

// SlackSource holds the Slack app's signing secret ("Basic Information").
type SlackSource struct {
	SigningSecret string `json:"signingSecret"`
}

// TwilioSource holds the account's auth token, which signs its webhooks.
type TwilioSource struct {
	AuthToken string `json:"authToken"`
}

// MailgunSource holds the domain's HTTP webhook signing key.
type MailgunSource struct {
	SigningKey string `json:"signingKey"`
}

// IFTTTSource holds a secret the applet sends as it is: IFTTT cannot sign,
// so this must be long and random (at least 32 characters, e.g. openssl
// rand -hex 32).
type IFTTTSource struct {
	Secret string `json:"secret"`
}
