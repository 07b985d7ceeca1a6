package api

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IdempotencyHeader carries the key that makes a retried task a replay.
const IdempotencyHeader = "Idempotency-Key"

// TaskRequest is a task in spotter's native JSON: the body of POST
// /v1/tasks and of the capability URL. The server also reads other shapes
// (the wt-spotter body, chat commands) into it.
type TaskRequest struct {
	Task          string   `json:"task"`
	Region        string   `json:"region,omitempty"`
	InstanceTypes []string `json:"instanceTypes,omitempty"`
	// Preset names a launch the token's policy defines ("gpu").
	Preset           string            `json:"preset,omitempty"`
	Count            *int              `json:"count,omitempty"` // nil: not given (one)
	MaxPrice         FlexPrice         `json:"maxPrice,omitempty"`
	AMI              string            `json:"ami,omitempty"`
	KeyName          string            `json:"keyName,omitempty"`
	SecurityGroups   []string          `json:"securityGroups,omitempty"`
	Subnets          []string          `json:"subnets,omitempty"`
	UserData         string            `json:"userData,omitempty"` // base64
	TTL              string            `json:"ttl,omitempty"`
	DryRun           FlexBool          `json:"dryRun,omitempty"`
	OnDemandFallback *FlexBool         `json:"onDemandFallback,omitempty"` // nil: the policy's
	Tags             map[string]string `json:"tags,omitempty"`
	MFACode          string            `json:"mfaCode,omitempty"`
	InstanceIDs      []string          `json:"instanceIds,omitempty"`
	All              bool              `json:"all,omitempty"`
	Wait             bool              `json:"wait,omitempty"`
	IdempotencyKey   string            `json:"idempotencyKey,omitempty"`
	// Status: at most Limit instances (nil: 100) from Cursor, a previous
	// reply's NextCursor.
	Limit  *int   `json:"limit,omitempty"`
	Cursor string `json:"cursor,omitempty"`
}

// FlexBool is a bool that also reads the strings "true" and "false", which
// webhook builders (IFTTT, wt-spotter forms) send.
type FlexBool bool

// UnmarshalJSON reads true, false, "true" or "false".
func (b *FlexBool) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, not %s", data)
	}
	*b = FlexBool(v)
	return nil
}

// FlexPrice is a price in dollars per instance-hour that also reads a
// string ("0.05"). Zero means "not given": an explicit 0 is refused.
type FlexPrice float64

// UnmarshalJSON reads 0.05 or "0.05"; "" leaves the price unset.
func (f *FlexPrice) UnmarshalJSON(data []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(data)), `"`)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a finite price in dollars such as 0.05, not %s", data)
	}
	if v == 0 {
		// 0 would read as "no price given" from here on: say so rather than
		// quietly fall back to the policy's cap.
		return fmt.Errorf("a price of 0 launches nothing; leave the price out to use the policy's cap")
	}
	*f = FlexPrice(v)
	return nil
}

// TaskReply is the reply to a task: the task, where it ran, and what it
// did. A field that only some tasks give is absent from the others'
// replies; a list a task always gives is [] rather than absent when empty.
// Dollar amounts are exact to the micro-dollar.
type TaskReply struct {
	Code      int    `json:"code"`
	Task      string `json:"task"`
	Region    string `json:"region"`
	TokenID   string `json:"tokenId"`
	RequestID string `json:"requestId"`
	// Text is the reply in words, for sources whose callers show it to a
	// person (Mailgun).
	Text     string   `json:"text,omitempty"`
	Warnings []string `json:"warnings,omitempty"`

	// Launch and status.
	Instances []Instance `json:"instances,omitzero"`
	// HourlyCost is a launch's (absent when 0) or, in status, what the
	// live instances cost per hour now (always there).
	HourlyCost *float64 `json:"hourlyCost,omitempty"`

	// Launch. Pools are the pools offered to EC2, cheapest first (null in
	// a replay, which offered none); Template is the launch template used.
	Pools    *[]SpotPool `json:"pools,omitempty"`
	Replayed bool        `json:"replayed,omitempty"`
	DryRun   bool        `json:"dryRun,omitempty"`
	Template string      `json:"template,omitempty"`

	// Status. Interrupted names the instances a spot interruption ended or
	// is about to end; CostSoFar estimates what every listed instance cost,
	// ended ones included.
	Interrupted []string `json:"interrupted,omitempty"`
	CostSoFar   *float64 `json:"costSoFar,omitempty"`
	// NextCursor, for the next status page, is absent on the last page.
	NextCursor string `json:"nextCursor,omitempty"`

	// Terminate, status and extend: the asked ids that are not the
	// token's, or (extend) that cannot be extended.
	Refused []RefusedID `json:"refused,omitempty"`

	// Terminate. CancelledRequests are open legacy spot requests of the token.
	Terminated        []string `json:"terminated,omitzero"`
	CancelledRequests []string `json:"cancelledRequests,omitempty"`

	// Price: quotes cheapest per vCPU first.
	Prices []PriceQuote `json:"prices,omitzero"`

	// Cancel: the legacy spot requests cancelled.
	Cancelled []string `json:"cancelled,omitzero"`

	// Extend: each instance's expiry after it (Refused names the others).
	Extended []Extended `json:"extended,omitzero"`
}

// Extended is one instance's expiry after an extend. An extend never
// shortens: ExpiresAt equals Was when the instance already lived that long.
type Extended struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
	Was       time.Time `json:"was"`
}

// SpotPool is one (type, zone or subnet) capacity pool a launch offered EC2;
// not to be confused with Pool, the fleet a reconciler keeps.
type SpotPool struct {
	Type   string  `json:"type"`
	AZ     string  `json:"az,omitempty"`
	Subnet string  `json:"subnet,omitempty"`
	Price  float64 `json:"price,omitempty"`
}

// PriceQuote is one pool's spot price, with the on-demand price and the
// saving where known.
type PriceQuote struct {
	Type      string  `json:"type"`
	AZ        string  `json:"az"`
	VCPU      int32   `json:"vcpu,omitempty"`
	Spot      float64 `json:"spot"`
	PerVCPU   float64 `json:"perVcpu,omitempty"`
	OnDemand  float64 `json:"onDemand,omitempty"`
	SavingPct float64 `json:"savingPct,omitempty"`
}

// RefusedID is an instance id a task would not touch, and why.
type RefusedID struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Notice is the reply of a source that answers a person (a help text, a
// check by the provider) without running a task.
type Notice struct {
	Code      int    `json:"code"`
	Text      string `json:"text"`
	RequestID string `json:"requestId"`
}
