// The domain types: what the service's packages pass each other (see doc.go).

package api

import (
	"log/slog"
	"time"

	"github.com/spotter-dev/spotter/money"
)

// Tags spotter puts on what it launches. They are the only link between a
// capability token and its instances: terminate, status, the reaper and
// the launch ledger read nothing else.
const (
	TagToken       = "spotter:token"
	TagRequest     = "spotter:request"
	TagExpiresAt   = "spotter:expires-at"
	TagTemplate    = "spotter:template"
	TagClientToken = "spotter:client-token"
	// TagReplaces names the interrupted instance a replacement stands in for.
	TagReplaces = "spotter:replaces"
	// TagGuardTTL is how long after boot the instance's own TTL guard
	// powers it off ("4h0m0s"), when a policy allowing extend armed it past
	// the TTL: no extension goes past it. Without it the guard is at the TTL.
	TagGuardTTL = "spotter:guard-ttl"
)

// Instance is one EC2 instance as spotter reports it: in replies (the
// JSON fields), to the launch ledger (ID, Price, LaunchKey) and to the
// reaper. The fields marked json:"-" are read from EC2 for spotter's own
// decisions and never sent.
type Instance struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	AZ        string    `json:"az,omitempty"`
	Lifecycle string    `json:"lifecycle"` // "spot" or "on-demand"
	State     string    `json:"state,omitempty"`
	Price     money.USD `json:"price,omitempty"` // $/hour now, 0 if unknown
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	PrivateIP string    `json:"privateIp,omitempty"`
	PublicIP  string    `json:"publicIp,omitempty"`

	// Filled by status.
	LaunchTime     time.Time `json:"launchTime,omitzero"`
	TTLLeftSeconds int64     `json:"ttlLeftSeconds,omitempty"`
	CostSoFar      money.USD `json:"costSoFar,omitempty"` // estimated $, at today's price
	Interrupted    bool      `json:"interrupted,omitempty"`
	StateReason    string    `json:"stateReason,omitempty"`

	// Tags are the instance's EC2 tags, when it was described.
	Tags map[string]string `json:"-"`
	// EndedAt is when it stopped or terminated, when EC2 says.
	EndedAt time.Time `json:"-"`
	// AMI is the image it booted, for a replacement's types.
	AMI string `json:"-"`
}

// Tag returns the value of one of the instance's tags, "" when it has
// none or was not described.
func (i Instance) Tag(key string) string { return i.Tags[key] }

// LaunchKey is the identity of the launch that started the instance (its
// EC2 ClientToken, from the TagClientToken tag), "" when unknown.
func (i Instance) LaunchKey() string { return i.Tags[TagClientToken] }

// Usage is what a token runs: how many live instances and their $/hour.
// The policy's maxRunning and maxHourlySpend rules are checked against
// it; the reaper reports it per token for the gauges.
type Usage struct {
	Running     int     `json:"running"`
	HourlySpend float64 `json:"hourlySpend"` // $/h
}

// Launch is a launch fully decided inside a token's policy: what the
// policy resolves from a request, and what spot launches.
type Launch struct {
	Region        string
	InstanceTypes []string
	Count         int
	MaxPrice      float64 // per instance-hour; 0 = no cap (EC2 then caps at on-demand)
	// MaxPriceAsked: the request named MaxPrice. Only such a price is held
	// to a multiple of the asked types' on-demand price; a policy's
	// ceiling covers all of its types, cheap ones included.
	MaxPriceAsked    bool
	AMI              string
	KeyName          string
	SecurityGroups   []string // ids (sg-…) or default-VPC names
	Subnets          []string // subnet ids
	UserData         []byte   // the operator's, raw
	TTL              time.Duration
	DryRun           bool
	OnDemandFallback bool
	Tags             map[string]string
}

// Credentials are a token's AWS credentials, decrypted for one call: long
// term keys, a role to assume (with the keys, or with spotter's own
// identity), or both; SessionToken when the keys are temporary. Every
// field is a secret or close to one, so none is marshalled and String,
// GoString and LogValue show only the masked key id and the role.
type Credentials struct {
	AccessKeyID     string `json:"-"`
	SecretAccessKey string `json:"-"`
	SessionToken    string `json:"-"`
	RoleARN         string `json:"-"`
	ExternalID      string `json:"-"`
}

// String is the fmt form, redacted.
func (c Credentials) String() string {
	return "Credentials{accessKeyId:" + MaskKey(c.AccessKeyID) + " roleArn:" + c.RoleARN + "}"
}

// GoString keeps %#v redacted too.
func (c Credentials) GoString() string { return c.String() }

// LogValue keeps secrets out of logs even if Credentials are logged by mistake.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("accessKeyId", MaskKey(c.AccessKeyID)), slog.String("roleArn", c.RoleARN))
}
