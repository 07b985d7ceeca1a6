package api

import "time"

// BootstrapRequest is the body of POST /v1/instances/bootstrap: an
// instance trading its launch's one-use credential for its pool's secrets.
type BootstrapRequest struct {
	Credential string `json:"credential"`
	InstanceID string `json:"instanceId"`
	// Document is base64 of the instance identity document, byte for byte
	// as the metadata service served it (as Vault's aws auth takes it);
	// Signature is what …/instance-identity/signature served.
	Document  string `json:"document,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// BootstrapReply is the one answer a credential gets per instance. With
// Accept: text/plain the same grant comes as lines the templates read
// (bootstrap.Grant.Lines).
type BootstrapReply struct {
	Code              int      `json:"code,omitempty"`
	Pool              string   `json:"pool"`
	InstanceID        string   `json:"instanceId"`
	Template          string   `json:"template"`
	Agents            int      `json:"agents"`
	TerminateAfterJob bool     `json:"terminateAfterJob"`
	Labels            []string `json:"labels"`
	// Secrets are the pool-wide ones by name; Scoped by scope
	// ("pipeline/<slug>", "repo/<owner>/<name>"), then name.
	Secrets map[string]string            `json:"secrets"`
	Scoped  map[string]map[string]string `json:"scoped"`
	// Heartbeat is the instance's heartbeat credential, for POST
	// /v1/instances/heartbeat every HeartbeatInterval seconds.
	Heartbeat         string `json:"heartbeat"`
	HeartbeatInterval int    `json:"heartbeatInterval"`
}

// PoolSecretRequest is the body of PUT /v1/pools/{name}/secrets/{key}.
type PoolSecretRequest struct {
	Value string `json:"value"`
}

// PoolSecret is what is shown of a secret: never its value.
type PoolSecret struct {
	Name      string    `json:"name"`
	Scope     string    `json:"scope,omitempty"`
	Bytes     int       `json:"bytes"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PoolSecretReply is the reply to a PUT.
type PoolSecretReply struct {
	Code   int        `json:"code,omitempty"`
	Pool   string     `json:"pool"`
	Secret PoolSecret `json:"secret"`
}

// PoolSecretsReply is the reply to GET /v1/pools/{name}/secrets.
type PoolSecretsReply struct {
	Code    int          `json:"code,omitempty"`
	Pool    string       `json:"pool"`
	Secrets []PoolSecret `json:"secrets"`
}
