// Package pool is issue 12's pool: the definition an operator writes (a
// named fleet bounded by a capability token's policy) and Decide, the
// reconciler's pure decision of how many instances to launch and which to
// end. It knows no HTTP, no store and no AWS: the admin API validates and
// stores a Pool, and a reconciler loop reads demand and instances, calls
// Decide and turns its Launch into one CreateFleet (WeightedCapacity per
// launch config, the decision's ClientToken) and its Ends into
// TerminateInstances.
package pool

import (
	"encoding/base64"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/policy"
)

// Duration is a Go duration written as a string ("10m"), as in policies.
type Duration = policy.Duration

// Pool is a pool's definition. The JSON names are public API (issue 12).
type Pool struct {
	Name          string         `json:"name"`
	TokenID       string         `json:"tokenId"`
	Region        string         `json:"region"`
	AMI           string         `json:"ami"`
	LaunchConfigs []LaunchConfig `json:"launchConfigs"`
	Subnets       []string       `json:"subnets,omitempty"`
	// UserData is base64, at most policy.MaxUserDataBytes decoded; the
	// launch path adds the TTL guard and checks the sum against EC2's limit.
	UserData string `json:"userData,omitempty"`
	// Bootstrap names the template whose script is the instances' user
	// data: it fetches the pool's secrets once and starts the agent (see
	// bootstrap.Templates); "" launches with UserData only.
	Bootstrap string `json:"bootstrap,omitempty"`
	// TerminateAfterJob makes each agent run one job and the instance
	// power off when all of its agents are done (Buildkite's
	// BuildkiteTerminateInstanceAfterJob, GitHub's ephemeral runners).
	TerminateAfterJob bool `json:"terminateAfterJob,omitempty"`
	MinCapacity       int  `json:"minCapacity"`
	MaxCapacity       int  `json:"maxCapacity"`
	// ScalingRatio is the capacity added per pending job not yet covered
	// (worker-manager's meaning, 0 < r ≤ 1); 0 when written means 1.
	ScalingRatio float64 `json:"scalingRatio"`
	// MaxPrice is $/instance-hour for one instance of any launch config;
	// 0 leaves it to the token's policy (or on-demand).
	MaxPrice float64 `json:"maxPrice,omitempty"`
	// MaxHourlySpend caps the pool's live instances' summed $/h; 0: none.
	MaxHourlySpend float64 `json:"maxHourlySpend,omitempty"`
	// OnDemandBase capacity units are always on-demand; OnDemandFallback
	// launches on-demand when spot has no capacity.
	OnDemandBase     int      `json:"onDemandBase,omitempty"`
	OnDemandFallback bool     `json:"onDemandFallback,omitempty"`
	IdleTimeout      Duration `json:"idleTimeout"`
	MaxLifetime      Duration `json:"maxLifetime"`
	BootTimeout      Duration `json:"bootTimeout"`
	// HeartbeatTimeout: a bootstrapped instance silent for this long is
	// dangling (reconcile/dangling.go); it beats every third of it.
	HeartbeatTimeout Duration `json:"heartbeatTimeout"`
	ScaleOutCooldown Duration `json:"scaleOutCooldown"`
	ScaleInCooldown  Duration `json:"scaleInCooldown"`
	// StaleDemandAfter: demand older than this is not acted on; the pool
	// holds instead of scaling in blind.
	StaleDemandAfter Duration `json:"staleDemandAfter"`
	Paused           bool     `json:"paused,omitempty"`
	// Draining pools launch nothing and end instances as they go idle.
	Draining bool     `json:"draining,omitempty"`
	Labels   []string `json:"labels,omitempty"`
}

// LaunchConfig is one instance type (or pattern) the pool may launch and
// how many jobs one such instance runs at once.
type LaunchConfig struct {
	InstanceType string `json:"instanceType"`
	// Capacity is the weight: job slots per instance (CreateFleet's
	// WeightedCapacity); 0 when written means 1.
	Capacity int `json:"capacity"`
	// Utility scales what a capacity unit of this config is worth (a
	// faster type finishes jobs sooner): 0 when written means 1. Decide
	// passes it through; the launch path may pay up to maxPrice × utility
	// for this config's instances (aws-provisioner compared maxPrice /
	// utility, the same scale turned around).
	Utility float64 `json:"utility,omitempty"`
}

// Defaults filled by Normalize.
const (
	DefaultScalingRatio = 1.0
	// DefaultIdleTimeout 0 ends surplus idle capacity at the first
	// decision that sees it, once past EC2's minimum charge: CI pushes
	// come minutes apart, an idle instance costs by the second, and one
	// kept for a job that may come pays only if the job comes within a
	// boot (README, "Pools benchmark").
	DefaultIdleTimeout      = 0
	DefaultMaxLifetime      = 12 * time.Hour
	DefaultBootTimeout      = 10 * time.Minute
	DefaultStaleDemandAfter = 2 * time.Minute
	DefaultHeartbeatTimeout = 3 * time.Minute
)

// Bounds every pool stays within. Each is tested at and past its edge.
const (
	MaxNameLen       = 63 // a DNS label: it appears in tags and URLs
	MaxCapacityLimit = 1000
	MaxLaunchConfigs = 20
	MaxWeight        = 100 // job slots per instance
	MaxUtility       = 100.0
	MaxSubnets       = 20
	MaxLabels        = 20
	MaxLabelLen      = 64
	MinIdleTimeout   = 0
	MaxIdleTimeout   = 24 * time.Hour
	MinMaxLifetime   = 10 * time.Minute
	MaxMaxLifetime   = policy.MaxTTLCeiling
	MinBootTimeout   = time.Minute // EC2 takes 20–90 s to run an instance
	MaxBootTimeout   = time.Hour
	// A third of the heartbeat timeout is the instances' interval: 5 s at
	// least keeps a thousand instances' beats under the store's rate.
	MinHeartbeatTimeout = 15 * time.Second
	MaxHeartbeatTimeout = time.Hour
	MaxCooldown         = time.Hour
	MinStaleDemand      = 10 * time.Second
	MaxStaleDemand      = time.Hour
)

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	tokenIDRe = regexp.MustCompile(`^tok_[a-z2-7]{20}$`) // capability.ValidID's form; capability is not imported (it brings the store)
	regionRe  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	amiRe     = regexp.MustCompile(`^ami-[0-9a-z]{1,17}$`)
	subnetRe  = regexp.MustCompile(`^subnet-[0-9a-f]{1,17}$`)
	typeRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.[a-z0-9*?-]+$|^[a-z0-9*?]+\.\*$`)
	labelRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]*$`)
)

// invalid is a 400 naming the field: server/errors.go maps the code, and
// the field leads the details so a script can find it.
func invalid(field, format string, args ...any) error {
	return apperr.New(apperr.Invalid, field+": "+format, args...)
}

// Normalize fills p's defaults and validates it, so a stored pool is
// always complete. It is safe to call again on a normalized pool.
func (p *Pool) Normalize() error {
	if p.ScalingRatio == 0 {
		p.ScalingRatio = DefaultScalingRatio
	}
	for i := range p.LaunchConfigs {
		lc := &p.LaunchConfigs[i]
		if lc.Capacity == 0 {
			lc.Capacity = 1
		}
		if lc.Utility == 0 {
			lc.Utility = 1
		}
	}
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{
		{&p.MaxLifetime, DefaultMaxLifetime},
		{&p.BootTimeout, DefaultBootTimeout}, {&p.StaleDemandAfter, DefaultStaleDemandAfter},
		{&p.HeartbeatTimeout, DefaultHeartbeatTimeout},
	} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	return p.Validate()
}

// Validate reports the first field that is out of bounds, as an
// apperr.Invalid whose details start with the field's JSON name.
func (p *Pool) Validate() error {
	switch {
	case p.Name == "":
		return invalid("name", "name the pool, e.g. \"linux-ci\"")
	case len(p.Name) > MaxNameLen || !nameRe.MatchString(p.Name):
		return invalid("name", "%q: use 1-%d lowercase letters, digits and inner hyphens", p.Name, MaxNameLen)
	case !tokenIDRe.MatchString(p.TokenID):
		return invalid("tokenId", "%q is not a token id like tok_abcdefghij2345234567; `spotter token list` shows them", p.TokenID)
	case !regionRe.MatchString(p.Region):
		return invalid("region", "%q is not a region name like us-east-1", p.Region)
	case !amiRe.MatchString(p.AMI):
		return invalid("ami", "%q is not an AMI id like ami-0abc1234", p.AMI)
	}
	if err := p.validateLaunchConfigs(); err != nil {
		return err
	}
	if len(p.Subnets) > MaxSubnets {
		return invalid("subnets", "at most %d subnets", MaxSubnets)
	}
	for _, s := range p.Subnets {
		if !subnetRe.MatchString(s) {
			return invalid("subnets", "%q is not a subnet id like subnet-0abc1234", s)
		}
	}
	if p.UserData != "" {
		raw, err := base64.StdEncoding.DecodeString(p.UserData)
		if err != nil {
			return invalid("userData", "must be base64")
		}
		if len(raw) > policy.MaxUserDataBytes {
			return invalid("userData", "is %d bytes; EC2 allows %d with spotter's TTL guard, so shorten it by %d at least",
				len(raw), policy.MaxUserDataBytes, len(raw)-policy.MaxUserDataBytes)
		}
	}
	if err := p.validateBootstrap(); err != nil {
		return err
	}
	if err := p.validateCapacity(); err != nil {
		return err
	}
	if err := p.validateDurations(); err != nil {
		return err
	}
	return p.validateLabels()
}

func (p *Pool) validateLaunchConfigs() error {
	if len(p.LaunchConfigs) == 0 {
		return invalid("launchConfigs", "name at least one, e.g. [{\"instanceType\": \"c6i.large\", \"capacity\": 1}]")
	}
	if len(p.LaunchConfigs) > MaxLaunchConfigs {
		return invalid("launchConfigs", "at most %d launch configs; use a pattern such as \"c6i.*\" for many types", MaxLaunchConfigs)
	}
	seen := map[string]bool{}
	for i, lc := range p.LaunchConfigs {
		f := fmt.Sprintf("launchConfigs[%d].", i)
		switch {
		case !typeRe.MatchString(lc.InstanceType):
			return invalid(f+"instanceType", "%q is not an instance type or pattern like c6i.large or c6i.*", lc.InstanceType)
		case seen[lc.InstanceType]:
			return invalid(f+"instanceType", "%q is named twice", lc.InstanceType)
		case lc.Capacity < 1 || lc.Capacity > MaxWeight:
			return invalid(f+"capacity", "must be 1-%d jobs per instance", MaxWeight)
		case !(lc.Utility > 0 && lc.Utility <= MaxUtility): // NaN fails
			return invalid(f+"utility", "must be above 0 and at most %g", MaxUtility)
		}
		if _, err := path.Match(lc.InstanceType, "x"); err != nil {
			return invalid(f+"instanceType", "%q is not a valid pattern", lc.InstanceType)
		}
		seen[lc.InstanceType] = true
	}
	return nil
}

func (p *Pool) validateCapacity() error {
	switch {
	case p.MaxCapacity < 1 || p.MaxCapacity > MaxCapacityLimit:
		return invalid("maxCapacity", "must be 1-%d capacity units (jobs)", MaxCapacityLimit)
	case p.MinCapacity < 0 || p.MinCapacity > p.MaxCapacity:
		return invalid("minCapacity", "must be 0 up to maxCapacity (%d)", p.MaxCapacity)
	case !(p.ScalingRatio > 0 && p.ScalingRatio <= 1):
		return invalid("scalingRatio", "must be above 0 and at most 1 (capacity added per pending job)")
	case !(p.MaxPrice >= 0 && p.MaxPrice <= policy.MaxPriceCeiling):
		return invalid("maxPrice", "must be 0 (the token's) up to %.0f dollars per instance-hour", policy.MaxPriceCeiling)
	case !(p.MaxHourlySpend >= 0 && p.MaxHourlySpend <= policy.MaxPriceCeiling*MaxCapacityLimit):
		return invalid("maxHourlySpend", "must be 0 (none) up to %.0f dollars per hour", policy.MaxPriceCeiling*MaxCapacityLimit)
	case p.MaxHourlySpend > 0 && p.MaxPrice > p.MaxHourlySpend:
		return invalid("maxHourlySpend", "%g is below maxPrice %g: not one instance could run", p.MaxHourlySpend, p.MaxPrice)
	case p.OnDemandBase < 0 || p.OnDemandBase > p.MaxCapacity:
		return invalid("onDemandBase", "must be 0 up to maxCapacity (%d)", p.MaxCapacity)
	}
	return nil
}

func (p *Pool) validateDurations() error {
	for _, d := range []struct {
		field    string
		v        Duration
		min, max time.Duration
	}{
		{"idleTimeout", p.IdleTimeout, MinIdleTimeout, MaxIdleTimeout},
		{"maxLifetime", p.MaxLifetime, MinMaxLifetime, MaxMaxLifetime},
		{"bootTimeout", p.BootTimeout, MinBootTimeout, MaxBootTimeout},
		{"scaleOutCooldown", p.ScaleOutCooldown, 0, MaxCooldown},
		{"scaleInCooldown", p.ScaleInCooldown, 0, MaxCooldown},
		{"staleDemandAfter", p.StaleDemandAfter, MinStaleDemand, MaxStaleDemand},
		{"heartbeatTimeout", p.HeartbeatTimeout, MinHeartbeatTimeout, MaxHeartbeatTimeout},
	} {
		if v := time.Duration(d.v); v < d.min || v > d.max {
			return invalid(d.field, "%s is outside %s to %s", v, short(d.min), short(d.max))
		}
	}
	if p.BootTimeout >= p.MaxLifetime {
		return invalid("bootTimeout", "%s is not shorter than maxLifetime %s", time.Duration(p.BootTimeout), time.Duration(p.MaxLifetime))
	}
	return nil
}

func (p *Pool) validateLabels() error {
	if len(p.Labels) > MaxLabels {
		return invalid("labels", "at most %d labels", MaxLabels)
	}
	for i, l := range p.Labels {
		if len(l) > MaxLabelLen || !labelRe.MatchString(l) {
			return invalid("labels", "%q: 1-%d letters, digits and . _ : / - (starting with a letter or digit)", l, MaxLabelLen)
		}
		if slices.Contains(p.Labels[:i], l) {
			return invalid("labels", "%q is named twice", l)
		}
	}
	return nil
}

// short prints a bound without Go's trailing zero units ("2m", not "2m0s").
func short(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", int64(math.Round(d.Seconds())))
}

// HeartbeatInterval is how often a bootstrapped instance reports: a
// third of heartbeatTimeout (whole seconds, for sh's sleep), so two lost
// beats in a row do not make it dangling.
func (p *Pool) HeartbeatInterval() time.Duration {
	return (p.HeartbeatWindow() / 3).Truncate(time.Second)
}

// HeartbeatWindow is heartbeatTimeout, or its default for a pool stored
// before the setting existed (records are not normalized again on read).
func (p *Pool) HeartbeatWindow() time.Duration {
	if p.HeartbeatTimeout <= 0 {
		return DefaultHeartbeatTimeout
	}
	return time.Duration(p.HeartbeatTimeout)
}
