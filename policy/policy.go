// Package policy holds what a capability token may do and decides whether a
// task stays inside it. The body of a request chooses within the policy,
// never beyond it: every breach is a policy_denied error naming the rule.
package policy

import (
	"encoding/base64"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Limits that hold whatever a policy says.
const (
	MaxUserDataBytes = 16 << 10 // EC2's limit on user data, before base64
	MaxCountCeiling  = 1000
	MaxTTLCeiling    = 7 * 24 * time.Hour
	// MaxPriceCeiling caps every price a policy, a preset or a body names,
	// in $/instance-hour. The dearest EC2 types (the u7in high-memory family)
	// cost a few hundred dollars an hour on demand, and spot never costs more
	// than on-demand, so anything above is a typo, not a bid.
	MaxPriceCeiling = 1000.0
	maxTags         = 40 // EC2 allows 50 per resource; spotter adds its own
)

// DefaultTTL is the instance lifetime of a policy that names none.
const DefaultTTL = time.Hour

// DefaultDedupeWindow is how long an identical launch without an
// idempotency key counts as a replay, when the policy names no window;
// MaxDedupeWindow bounds what a policy may name.
const (
	DefaultDedupeWindow = 10 * time.Minute
	MaxDedupeWindow     = 24 * time.Hour
)

// Policy bounds a capability token: api.Policy, the JSON an operator
// sends, with the rules below. Converting between the two costs nothing.
type Policy api.Policy

// Dedupe is the policy's dedupe window: DefaultDedupeWindow unless it
// names one, zero when deduplication of keyless launches is off.
func (p *Policy) Dedupe() time.Duration {
	if p.DedupeWindow == nil {
		return DefaultDedupeWindow
	}
	return time.Duration(*p.DedupeWindow)
}

// Duration is a time.Duration written as a Go duration string ("90m").
type Duration = api.Duration

var (
	regionRe   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	typeRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.[a-z0-9*?-]+$|^[a-z0-9*?]+\.\*$`)
	amiRe      = regexp.MustCompile(`^ami-[0-9a-z]{1,17}$`)
	sgRe       = regexp.MustCompile(`^sg-[0-9a-f]{1,17}$`)
	subnetRe   = regexp.MustCompile(`^subnet-[0-9a-f]{1,17}$`)
	keyNameRe  = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
	tagKeyRe   = regexp.MustCompile(`^[\pL\pN\s+\-=._:/@]{1,128}$`)
	tagValueRe = regexp.MustCompile(`^[\pL\pN\s+\-=._:/@]{0,256}$`)
)

func invalid(field, format string, args ...any) error {
	return apperr.New(apperr.Invalid, "policy."+field+": "+format, args...)
}

// Normalize fills defaults and validates p, so that a stored policy is always
// complete. defaultRegion is used when the policy names no region.
func (p *Policy) Normalize(defaultRegion string) error {
	if len(p.Regions) == 0 && defaultRegion != "" {
		p.Regions = []string{defaultRegion}
	}
	if len(p.Tasks) == 0 {
		p.Tasks = api.DefaultTasks()
	}
	if p.MaxCount == 0 {
		p.MaxCount = 1
	}
	if p.MaxRunning == 0 {
		p.MaxRunning = p.MaxCount
	}
	if p.DefaultTTL == 0 {
		p.DefaultTTL = Duration(DefaultTTL)
		if p.MaxTTL != 0 && p.MaxTTL < p.DefaultTTL {
			p.DefaultTTL = p.MaxTTL
		}
	}
	if p.MaxTTL == 0 {
		p.MaxTTL = p.DefaultTTL
	}
	if p.DedupeWindow == nil {
		w := Duration(DefaultDedupeWindow)
		p.DedupeWindow = &w
	}
	return p.validate()
}

// validate checks a normalized policy, field by field in a fixed order,
// so a policy with several faults always hears of the same one first.
func (p *Policy) validate() error {
	for _, check := range []func() error{p.validateScope, p.validateLaunchFields, p.validateLimits, p.validateExtras, p.validatePresets} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateScope checks the regions and tasks.
func (p *Policy) validateScope() error {
	if len(p.Regions) == 0 {
		return invalid("regions", "name at least one region, e.g. [\"us-east-1\"]")
	}
	for _, r := range p.Regions {
		if !regionRe.MatchString(r) {
			return invalid("regions", "%q is not a region name like us-east-1", r)
		}
	}
	for _, t := range p.Tasks {
		if !slices.Contains(api.AllTasks(), t) {
			return invalid("tasks", "%q is not one of %s", t, strings.Join(api.AllTasks(), ", "))
		}
	}
	return nil
}

// validateLaunchFields checks what a launch is made of: types, AMIs,
// security groups, subnets, key.
func (p *Policy) validateLaunchFields() error {
	launch := slices.Contains(p.Tasks, api.TaskLaunch)
	if launch && len(p.InstanceTypes) == 0 {
		return invalid("instanceTypes", "a policy that allows launch must name instance types or patterns (\"m5.*\")")
	}
	for _, t := range p.InstanceTypes {
		if !typeRe.MatchString(t) {
			return invalid("instanceTypes", "%q is not an instance type or pattern like m5.large or m5.*", t)
		}
		if _, err := path.Match(t, "x"); err != nil {
			return invalid("instanceTypes", "%q is not a valid pattern", t)
		}
	}
	if launch && len(p.AMIs) == 0 {
		return invalid("amis", "a policy that allows launch must name the AMIs it may use")
	}
	if err := each("amis", p.AMIs, amiRe, "an AMI id like ami-0abc1234"); err != nil {
		return err
	}
	if err := each("securityGroups", p.SecurityGroups, sgRe, "a security group id like sg-0abc1234"); err != nil {
		return err
	}
	if err := each("subnets", p.Subnets, subnetRe, "a subnet id like subnet-0abc1234"); err != nil {
		return err
	}
	if p.KeyName != "" && !keyNameRe.MatchString(p.KeyName) {
		return invalid("keyName", "must be 1-255 printable ASCII characters")
	}
	return nil
}

// validateLimits checks the numbers: counts, prices, TTLs, dedupe window.
func (p *Policy) validateLimits() error {
	switch {
	case p.MaxCount < 1 || p.MaxCount > MaxCountCeiling:
		return invalid("maxCount", "must be 1-%d", MaxCountCeiling)
	case p.MaxRunning < p.MaxCount || p.MaxRunning > MaxCountCeiling:
		return invalid("maxRunning", "must be at least maxCount (%d) and at most %d", p.MaxCount, MaxCountCeiling)
	case !(p.MaxPrice >= 0 && p.MaxPrice <= MaxPriceCeiling): // NaN fails both
		return invalid("maxPrice", "must be between 0 (none) and %.0f dollars per instance-hour", MaxPriceCeiling)
	case !(p.MaxHourlySpend >= 0 && p.MaxHourlySpend <= MaxPriceCeiling*MaxCountCeiling):
		return invalid("maxHourlySpend", "must be between 0 (none) and %.0f dollars per hour (maxPrice's ceiling × maxCount's)",
			MaxPriceCeiling*MaxCountCeiling)
	case p.DefaultTTL < Duration(time.Minute) || p.MaxTTL > Duration(MaxTTLCeiling):
		return invalid("maxTTL", "TTLs must be between 1m and %s", MaxTTLCeiling)
	case p.DefaultTTL > p.MaxTTL:
		return invalid("defaultTTL", "%s is longer than maxTTL %s", time.Duration(p.DefaultTTL), time.Duration(p.MaxTTL))
	case p.Dedupe() < 0 || p.Dedupe() > MaxDedupeWindow:
		return invalid("dedupeWindow", "must be between \"0\" (off) and %s", MaxDedupeWindow)
	}
	return nil
}

// validateExtras checks the user data and the tags.
func (p *Policy) validateExtras() error {
	if p.UserData != "" {
		raw, err := base64.StdEncoding.DecodeString(p.UserData)
		if err != nil {
			return invalid("userData", "must be base64")
		}
		if len(raw) > MaxUserDataBytes {
			return invalid("userData", "is %d bytes; EC2 allows %d", len(raw), MaxUserDataBytes)
		}
	}
	if len(p.Tags) > maxTags {
		return invalid("tags", "at most %d tags", maxTags)
	}
	for k, v := range p.Tags {
		if err := checkTag(k, v); err != nil {
			return invalid("tags", "%s", err)
		}
	}
	return nil
}

func each(field string, vals []string, re *regexp.Regexp, want string) error {
	for _, v := range vals {
		if !re.MatchString(v) {
			return invalid(field, "%q is not %s", v, want)
		}
	}
	return nil
}

// checkTag refuses the prefixes EC2 and spotter own, in any case: EC2
// refuses aws: keys in every case, and spot refuses a spotter: key in any
// case at launch (to a person or a tool that folds case it reads as
// spotter's own), so a policy holding "SPOTTER:token" would be accepted
// here and then fail every launch.
func checkTag(k, v string) error {
	if lk := strings.ToLower(k); strings.HasPrefix(lk, "aws:") || strings.HasPrefix(lk, "spotter:") {
		return fmt.Errorf("tag key %q uses a reserved prefix (aws: and spotter:, in any case)", k)
	}
	if !tagKeyRe.MatchString(k) || !tagValueRe.MatchString(v) {
		return fmt.Errorf("tag %q: keys 1-128 and values 0-256 letters, digits, spaces and + - = . _ : / @", k)
	}
	return nil
}

// Allows reports whether the policy allows task.
func (p *Policy) Allows(task string) bool { return slices.Contains(p.Tasks, task) }

// GuardTTL is how long after boot a launch arms the instance's own TTL
// guard: maxTTL when the policy allows extend (so an extension within it
// holds), else 0 (the launch's TTL).
func (p *Policy) GuardTTL() time.Duration {
	if p.Allows(api.TaskExtend) {
		return time.Duration(p.MaxTTL)
	}
	return 0
}

// AllowsRegion reports whether region is in the policy.
func (p *Policy) AllowsRegion(region string) bool { return slices.Contains(p.Regions, region) }

// MatchType reports whether an instance type matches one of the policy's names or patterns.
func (p *Policy) MatchType(t string) bool {
	for _, pat := range p.InstanceTypes {
		if ok, _ := path.Match(pat, t); ok {
			return true
		}
	}
	return false
}
