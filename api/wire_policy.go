package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// Policy bounds a capability token: what a token create or rotate sends
// and what show and list give back. Package policy gives it its rules
// (policy.Policy is this type with methods); the JSON names are public API.
type Policy struct {
	Regions            []string          `json:"regions"`
	InstanceTypes      []string          `json:"instanceTypes"`
	MaxCount           int               `json:"maxCount"`
	MaxRunning         int               `json:"maxRunning"`
	MaxPrice           float64           `json:"maxPrice,omitempty"`
	MaxHourlySpend     float64           `json:"maxHourlySpend,omitempty"`
	MaxTTL             Duration          `json:"maxTTL"`
	DefaultTTL         Duration          `json:"defaultTTL"`
	AMIs               []string          `json:"amis,omitempty"`
	KeyName            string            `json:"keyName,omitempty"`
	SecurityGroups     []string          `json:"securityGroups,omitempty"`
	Subnets            []string          `json:"subnets,omitempty"`
	UserData           string            `json:"userData,omitempty"`
	AllowUserData      bool              `json:"allowUserData,omitempty"`
	Tasks              []string          `json:"tasks"`
	DryRunOnly         bool              `json:"dryRunOnly,omitempty"`
	OnDemandFallback   bool              `json:"onDemandFallback,omitempty"`
	ReplaceInterrupted bool              `json:"replaceInterrupted,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	Presets            map[string]Preset `json:"presets,omitempty"`
	// DedupeWindow is how long an identical launch body without an
	// idempotency key is the same launch ("0": never); nil is the default.
	DedupeWindow *Duration `json:"dedupeWindow,omitempty"`
}

// Preset is a named launch inside the policy ("gpu" → types, AMI, TTL), so
// a chat message or an SMS can say "launch gpu" instead of spelling out a
// launch. Every value must itself be allowed by the policy: a preset can
// never grant what the policy does not.
type Preset struct {
	InstanceTypes []string `json:"instanceTypes,omitempty"`
	AMI           string   `json:"ami,omitempty"`
	TTL           Duration `json:"ttl,omitempty"`
	Count         int      `json:"count,omitempty"`
	MaxPrice      float64  `json:"maxPrice,omitempty"`
	Region        string   `json:"region,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("90m").
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string; a number is refused, since its
// unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"90m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"90m\"", s)
	}
	*d = Duration(v)
	return nil
}
