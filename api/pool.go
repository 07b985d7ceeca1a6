package api

import "time"

// Pool is a pool's definition: the body of POST /v1/pools, and what a
// PATCH merges into. Package pool validates it (pool.Pool has the same
// JSON fields; a test holds the two together). A zero field takes its
// default.
type Pool struct {
	Name          string             `json:"name"`
	TokenID       string             `json:"tokenId"`
	Region        string             `json:"region"`
	AMI           string             `json:"ami"`
	LaunchConfigs []PoolLaunchConfig `json:"launchConfigs"`
	Subnets       []string           `json:"subnets,omitempty"`
	UserData      string             `json:"userData,omitempty"` // base64

	// Bootstrap is "buildkite-agent", "github-runner", "generic-worker" or
	// "": the script that fetches the pool's secrets once at boot.
	Bootstrap         string `json:"bootstrap,omitempty"`
	TerminateAfterJob bool   `json:"terminateAfterJob,omitempty"`

	MinCapacity      int      `json:"minCapacity"`
	MaxCapacity      int      `json:"maxCapacity"`
	ScalingRatio     float64  `json:"scalingRatio,omitempty"`
	MaxPrice         float64  `json:"maxPrice,omitempty"`
	MaxHourlySpend   float64  `json:"maxHourlySpend,omitempty"`
	OnDemandBase     int      `json:"onDemandBase,omitempty"`
	OnDemandFallback bool     `json:"onDemandFallback,omitempty"`
	IdleTimeout      Duration `json:"idleTimeout,omitempty"`
	MaxLifetime      Duration `json:"maxLifetime,omitempty"`
	BootTimeout      Duration `json:"bootTimeout,omitempty"`
	HeartbeatTimeout Duration `json:"heartbeatTimeout,omitempty"`
	ScaleOutCooldown Duration `json:"scaleOutCooldown,omitempty"`
	ScaleInCooldown  Duration `json:"scaleInCooldown,omitempty"`
	StaleDemandAfter Duration `json:"staleDemandAfter,omitempty"`
	Paused           bool     `json:"paused,omitempty"`
	Draining         bool     `json:"draining,omitempty"`
	Labels           []string `json:"labels,omitempty"`
}

// PoolLaunchConfig is an instance type (or pattern) a pool may launch and
// its weight: job slots per instance.
type PoolLaunchConfig struct {
	InstanceType string  `json:"instanceType"`
	Capacity     int     `json:"capacity,omitempty"`
	Utility      float64 `json:"utility,omitempty"`
}

// PoolInfo is a pool as the admin API shows it: the definition as stored,
// its state, and nothing secret.
type PoolInfo struct {
	Pool
	// Status is active, paused, draining or deleting.
	Status      string         `json:"status"`
	Incarnation string         `json:"incarnation"`
	Epoch       uint64         `json:"epoch"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	DeletedAt   *time.Time     `json:"deletedAt,omitempty"`
	Capability  PoolCapability `json:"capability"`
	// Capacity units (jobs): Desired is what a decision would aim at now,
	// Hold why demand is not acted on (stale_demand, paused) if it is not.
	Desired   int            `json:"desired"`
	Hold      string         `json:"hold,omitempty"`
	Running   int            `json:"running"`
	Booting   int            `json:"booting"`
	Idle      int            `json:"idle"`
	Pending   int            `json:"pending"`
	Demand    *PoolDemand    `json:"demand,omitempty"`
	Instances []PoolInstance `json:"instances"`
}

// PoolReply is the reply to GET, PATCH and DELETE /v1/pools/{name} and to
// drain and revoke.
type PoolReply struct {
	Code int `json:"code,omitempty"`
	PoolInfo
}

// PoolCapability says which capability a pool accepts, never what it is.
type PoolCapability struct {
	KeyID     string     `json:"keyId,omitempty"`
	IssuedAt  time.Time  `json:"issuedAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// CreatedPool is the reply to a create or a capability rotate: the only
// time the pool's capability is shown. URL is <public url>/hooks/<token>;
// a cron posts demand to URL + "/demand".
type CreatedPool struct {
	Code int `json:"code,omitempty"`
	PoolInfo
	Token string `json:"token"`
	URL   string `json:"url"`
}

// PoolPage is the reply to GET /v1/pools: every pool, by name.
type PoolPage struct {
	Code  int        `json:"code,omitempty"`
	Pools []PoolInfo `json:"pools"`
}

// DemandRequest is the body of POST /v1/pools/{name}/demand (and of
// POST /hooks/<pool capability>/demand): what a cron polling a queue
// sends. Each count is 0 to 1,000,000.
type DemandRequest struct {
	Pending int `json:"pending"`
	Running int `json:"running"`
	Idle    int `json:"idle"`
}

// PoolDemand is a pool's last demand report: jobs waiting, running and
// agents idle, and At, the server's time of receipt.
type PoolDemand struct {
	Pending int        `json:"pending"`
	Running int        `json:"running"`
	Idle    int        `json:"idle"`
	At      *time.Time `json:"at,omitempty"`
}

// DemandReply is the reply to a demand report: the demand as stored and
// what a decision would aim at with it.
type DemandReply struct {
	Code    int        `json:"code,omitempty"`
	Pool    string     `json:"pool"`
	Demand  PoolDemand `json:"demand"`
	Desired int        `json:"desired"`
	Hold    string     `json:"hold,omitempty"`
}

// PoolInstance is one live instance of a pool as the reconciler recorded it.
type PoolInstance struct {
	ID           string     `json:"id"`
	InstanceType string     `json:"instanceType"`
	State        string     `json:"state"` // booting, idle, busy
	Capacity     int        `json:"capacity"`
	Launched     time.Time  `json:"launched"`
	IdleSince    *time.Time `json:"idleSince,omitempty"`
	Price        float64    `json:"price"`
	OnDemand     bool       `json:"onDemand,omitempty"`
	Interrupted  *time.Time `json:"interrupted,omitempty"`
}

// PoolSources is the body of PATCH /v1/pools/{name}/sources: the CI
// systems that drive the pool. Each section given is merged into the
// stored one (a field left out keeps its value; null removes the
// section). Secret fields are write-only: replies show PoolSourcesView.
type PoolSources struct {
	GitHub      *PoolGitHubSource      `json:"github,omitempty"`
	Buildkite   *PoolBuildkiteSource   `json:"buildkite,omitempty"`
	Taskcluster *PoolTaskclusterSource `json:"taskcluster,omitempty"`
}

// PoolGitHubSource takes workflow_job webhooks at
// /hooks/<pool capability>/github; with token and repos or org it also
// reconciles against the REST API at apiUrl.
type PoolGitHubSource struct {
	WebhookSecret string   `json:"webhookSecret,omitempty"`
	APIURL        string   `json:"apiUrl,omitempty"`
	Token         string   `json:"token,omitempty"`
	Repos         []string `json:"repos,omitempty"`
	Org           string   `json:"org,omitempty"`
	// A GitHub App instead of token.
	AppID          int64  `json:"appId,omitempty"`
	InstallationID int64  `json:"installationId,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"`
	// How a github-runner pool's instances register: "jit" (the default
	// with token or App), "registration-token" or "pool-secrets"; the JIT
	// runner's group (default 1) and work folder (default _work).
	RunnerRegistration string `json:"runnerRegistration,omitempty"`
	RunnerGroupID      int64  `json:"runnerGroupId,omitempty"`
	WorkFolder         string `json:"workFolder,omitempty"`
}

// PoolBuildkiteSource takes job webhooks at /hooks/<pool capability>/buildkite
// and/or polls the agent metrics API for queue.
type PoolBuildkiteSource struct {
	WebhookToken         string `json:"webhookToken,omitempty"`
	WebhookSigningSecret string `json:"webhookSigningSecret,omitempty"`
	AgentToken           string `json:"agentToken,omitempty"`
	Queue                string `json:"queue,omitempty"`
	MetricsURL           string `json:"metricsUrl,omitempty"`
}

// PoolTaskclusterSource polls the queue's counts for taskQueueId.
type PoolTaskclusterSource struct {
	RootURL     string `json:"rootUrl,omitempty"`
	TaskQueueID string `json:"taskQueueId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
	AccessToken string `json:"accessToken,omitempty"`
}

// PoolSourcesView is a pool's sources as replies show them: each secret
// only as whether it is set.
type PoolSourcesView struct {
	GitHub      *PoolGitHubView      `json:"github,omitempty"`
	Buildkite   *PoolBuildkiteView   `json:"buildkite,omitempty"`
	Taskcluster *PoolTaskclusterView `json:"taskcluster,omitempty"`
}

// PoolGitHubView is a GitHub source without its secrets.
type PoolGitHubView struct {
	APIURL           string   `json:"apiUrl"`
	Repos            []string `json:"repos,omitempty"`
	Org              string   `json:"org,omitempty"`
	WebhookSecretSet bool     `json:"webhookSecretSet"`
	TokenSet         bool     `json:"tokenSet"`
	AppID            int64    `json:"appId,omitempty"`
	InstallationID   int64    `json:"installationId,omitempty"`
	PrivateKeySet    bool     `json:"privateKeySet"`
	// RunnerRegistration is how a github-runner pool's instances register
	// (jit, registration-token or pool-secrets), the default resolved.
	RunnerRegistration string `json:"runnerRegistration"`
	RunnerGroupID      int64  `json:"runnerGroupId,omitempty"`
	WorkFolder         string `json:"workFolder,omitempty"`
}

// PoolBuildkiteView is a Buildkite source without its secrets.
type PoolBuildkiteView struct {
	Queue                   string `json:"queue"`
	MetricsURL              string `json:"metricsUrl"`
	WebhookTokenSet         bool   `json:"webhookTokenSet"`
	WebhookSigningSecretSet bool   `json:"webhookSigningSecretSet"`
	AgentTokenSet           bool   `json:"agentTokenSet"`
}

// PoolTaskclusterView is a Taskcluster source without its secret.
type PoolTaskclusterView struct {
	RootURL        string `json:"rootUrl"`
	TaskQueueID    string `json:"taskQueueId"`
	ClientID       string `json:"clientId,omitempty"`
	AccessTokenSet bool   `json:"accessTokenSet"`
}

// PoolSourcesReply answers GET and PATCH /v1/pools/{name}/sources.
type PoolSourcesReply struct {
	Code    int             `json:"code"`
	Pool    string          `json:"pool"`
	Sources PoolSourcesView `json:"sources"`
}

// SourceEventReply answers a CI webhook delivery: "counted" with the
// pool's demand after it, or "ignored" with why (GitHub disables hooks
// that fail, so what spotter does not act on still gets a 200).
type SourceEventReply struct {
	Code    int    `json:"code"`
	Outcome string `json:"outcome"` // counted, unchanged, ignored
	Reason  string `json:"reason,omitempty"`
	Pending int    `json:"pending"`
	Running int    `json:"running"`
}
