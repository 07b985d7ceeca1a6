package policy

import (
	"encoding/base64"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Request is what a caller asked for, already decoded from whichever body
// format it came in. Zero values mean "not given".
type Request struct {
	Task             string
	Region           string
	InstanceTypes    []string
	Count            int
	MaxPrice         float64
	AMI              string
	KeyName          string
	SecurityGroups   []string
	Subnets          []string
	UserData         string // base64
	TTL              time.Duration
	DryRun           bool
	OnDemandFallback *bool
	Tags             map[string]string
	InstanceIDs      []string
	All              bool
}

func denied(format string, args ...any) error {
	return apperr.New(apperr.PolicyDenied, format, args...)
}

func badField(field, format string, args ...any) error {
	return apperr.New(apperr.Invalid, field+": "+format, args...)
}

// Check applies the rules every task shares: the task and the region.
// It returns the region to use.
func (p *Policy) Check(r Request) (string, error) {
	if !p.Allows(r.Task) {
		return "", denied("rule tasks: this token may not %s (allowed: %s)", r.Task, strings.Join(p.Tasks, ", "))
	}
	if r.Task == api.TaskExtend {
		// Decided here, with the task, so a refused extension spends no MFA code.
		if err := p.checkExtend(r.TTL); err != nil {
			return "", err
		}
	}
	if r.Region == "" {
		return p.Regions[0], nil
	}
	if !p.AllowsRegion(r.Region) {
		return "", denied("rule regions: region %s is not allowed (allowed: %s)", r.Region, strings.Join(p.Regions, ", "))
	}
	return r.Region, nil
}

// ResolveLaunch decides a launch inside the policy, or says which rule the
// request breaks. It never widens what the request asked for. u is what
// the token runs already; a caller that learns it only later resolves with
// api.Usage{} and then calls CheckUsage, which refuses exactly what resolving
// with the usage would have.
func (p *Policy) ResolveLaunch(r Request, u api.Usage) (api.Launch, error) {
	var l api.Launch
	var err error
	if l.Region, err = p.Check(r); err != nil {
		return api.Launch{}, err
	}
	l.DryRun, l.OnDemandFallback = r.DryRun, p.OnDemandFallback
	if p.DryRunOnly && !r.DryRun {
		return api.Launch{}, denied("rule dryRunOnly: this token may only dry-run; send \"dryRun\": true")
	}
	if l.InstanceTypes, err = p.resolveTypes(r.InstanceTypes); err != nil {
		return api.Launch{}, err
	}
	if l.Count, err = p.resolveCount(r.Count); err != nil {
		return api.Launch{}, err
	}
	if err := p.checkRunning(l, u); err != nil {
		return api.Launch{}, err
	}
	if l.MaxPrice, l.MaxPriceAsked, err = p.resolveMaxPrice(r.MaxPrice); err != nil {
		return api.Launch{}, err
	}
	if err := p.checkLaunchSpend(l, u); err != nil {
		return api.Launch{}, err
	}
	if l.TTL, err = p.resolveTTL(r.TTL); err != nil {
		return api.Launch{}, err
	}
	if err := p.resolveInstance(r, &l); err != nil {
		return api.Launch{}, err
	}
	return l, nil
}

// CheckUsage applies to a launch ResolveLaunch decided the rules that
// depend on what the token runs: maxRunning and maxHourlySpend. It is
// what changes between the check before any AWS call and the admission
// against the token's listed instances.
func (p *Policy) CheckUsage(l api.Launch, u api.Usage) error {
	if err := p.checkRunning(l, u); err != nil {
		return err
	}
	return p.checkLaunchSpend(l, u)
}

func (p *Policy) resolveCount(asked int) (int, error) {
	switch {
	case asked == 0:
		return 1, nil
	case asked < 0:
		return 0, badField("count", "must be 1 or more")
	case asked > p.MaxCount:
		return 0, denied("rule maxCount: %d instances asked, at most %d per request", asked, p.MaxCount)
	}
	return asked, nil
}

func (p *Policy) checkRunning(l api.Launch, u api.Usage) error {
	if u.Running+l.Count > p.MaxRunning {
		return denied("rule maxRunning: %d running + %d asked exceeds %d", u.Running, l.Count, p.MaxRunning)
	}
	return nil
}

// resolveMaxPrice returns the price cap and whether the request named it.
func (p *Policy) resolveMaxPrice(asked float64) (float64, bool, error) {
	switch {
	case !(asked >= 0 && asked <= MaxPriceCeiling): // NaN and ±Inf fail too
		return 0, false, badField("maxPrice", "must be a price above 0 and at most %g dollars per instance-hour", MaxPriceCeiling)
	case p.MaxPrice > 0 && asked > p.MaxPrice:
		return 0, false, denied("rule maxPrice: $%.4f/h asked, at most $%.4f/h per instance", asked, p.MaxPrice)
	case asked > 0:
		return asked, true, nil
	}
	return p.MaxPrice, false, nil
}

// checkLaunchSpend holds a launch with a price cap to maxHourlySpend: at
// most count × cap on top of what the token spends.
func (p *Policy) checkLaunchSpend(l api.Launch, u api.Usage) error {
	if p.MaxHourlySpend > 0 && l.MaxPrice > 0 {
		return p.CheckSpend(u.HourlySpend, float64(l.Count)*l.MaxPrice)
	}
	return nil
}

func (p *Policy) resolveTTL(asked time.Duration) (time.Duration, error) {
	switch {
	case asked == 0:
		return time.Duration(p.DefaultTTL), nil
	case asked < time.Minute:
		return 0, badField("ttl", "must be at least 1m")
	case asked > time.Duration(p.MaxTTL):
		return 0, denied("rule maxTTL: ttl %s exceeds %s", asked, time.Duration(p.MaxTTL))
	}
	return asked, nil
}

// resolveInstance decides what the instances are made of: AMI, key,
// security groups, subnets, user data, fallback and tags.
func (p *Policy) resolveInstance(r Request, l *api.Launch) error {
	var err error
	if l.AMI, err = pickOne("ami", "amis", r.AMI, p.AMIs); err != nil {
		return err
	}
	switch {
	case r.KeyName == "":
		l.KeyName = p.KeyName
	case r.KeyName != p.KeyName:
		return denied("rule keyName: key %q is not the token's key", r.KeyName)
	default:
		l.KeyName = r.KeyName
	}
	if l.SecurityGroups, err = subset("securityGroups", r.SecurityGroups, p.SecurityGroups); err != nil {
		return err
	}
	if l.Subnets, err = subset("subnets", r.Subnets, p.Subnets); err != nil {
		return err
	}
	if l.UserData, err = p.resolveUserData(r.UserData); err != nil {
		return err
	}
	if r.OnDemandFallback != nil {
		if *r.OnDemandFallback && !p.OnDemandFallback {
			return denied("rule onDemandFallback: this token may not fall back to on-demand")
		}
		l.OnDemandFallback = *r.OnDemandFallback
	}
	l.Tags, err = p.mergeTags(r.Tags)
	return err
}

// CheckSpend refuses a launch whose projected cost, added to what the token
// already spends, passes maxHourlySpend. Callers that know current prices
// but no price cap call it with their own projection.
func (p *Policy) CheckSpend(current, added float64) error {
	if p.MaxHourlySpend > 0 && current+added > p.MaxHourlySpend+1e-9 {
		return denied("rule maxHourlySpend: $%.4f/h running + $%.4f/h asked exceeds $%.4f/h", current, added, p.MaxHourlySpend)
	}
	return nil
}

// resolveTypes returns the asked types if all match the policy, or, when
// none were asked, the policy's own list: names and patterns ("c5.*"),
// which the caller expands against the region's catalogue.
func (p *Policy) resolveTypes(asked []string) ([]string, error) {
	if len(asked) == 0 {
		return slices.Clone(p.InstanceTypes), nil
	}
	out := make([]string, 0, len(asked))
	for _, t := range asked {
		if !typeRe.MatchString(t) || strings.ContainsAny(t, "*?[") {
			return nil, badField("instanceTypes", "%q is not an instance type", t)
		}
		if !p.MatchType(t) {
			return nil, denied("rule instanceTypes: %s is not allowed (allowed: %s)", t, strings.Join(p.InstanceTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func pickOne(field, rule, asked string, allowed []string) (string, error) {
	switch {
	case asked != "" && slices.Contains(allowed, asked):
		return asked, nil
	case asked != "":
		return "", denied("rule %s: %s is not allowed (allowed: %s)", rule, asked, strings.Join(allowed, ", "))
	case len(allowed) == 1:
		return allowed[0], nil
	default:
		return "", badField(field, "name one of %s", strings.Join(allowed, ", "))
	}
}

func subset(field string, asked, allowed []string) ([]string, error) {
	if len(asked) == 0 {
		return slices.Clone(allowed), nil
	}
	for _, a := range asked {
		if !slices.Contains(allowed, a) {
			return nil, denied("rule %s: %s is not allowed", field, a)
		}
	}
	return slices.Clone(asked), nil
}

func (p *Policy) resolveUserData(asked string) ([]byte, error) {
	if asked == "" {
		if p.UserData == "" {
			return nil, nil
		}
		return base64.StdEncoding.DecodeString(p.UserData)
	}
	if !p.AllowUserData {
		return nil, denied("rule allowUserData: this token may not send user data")
	}
	raw, err := base64.StdEncoding.DecodeString(asked)
	if err != nil {
		return nil, badField("userData", "must be base64")
	}
	if len(raw) > MaxUserDataBytes {
		return nil, badField("userData", "is %d bytes; EC2 allows %d", len(raw), MaxUserDataBytes)
	}
	return raw, nil
}

// mergeTags lets the request add tags but never override the operator's.
func (p *Policy) mergeTags(asked map[string]string) (map[string]string, error) {
	out := maps.Clone(p.Tags)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range asked {
		if err := checkTag(k, v); err != nil {
			return nil, badField("tags", "%s", err)
		}
		if _, fixed := p.Tags[k]; fixed {
			continue
		}
		out[k] = v
	}
	if len(out) > maxTags {
		return nil, badField("tags", "at most %d tags", maxTags)
	}
	return out, nil
}

// checkExtend: an extension names the new TTL, counted from launch, and
// stays within maxTTL.
func (p *Policy) checkExtend(ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return badField("ttl", "name the new time to live, counted from launch, such as \"2h\" (at most %s)", time.Duration(p.MaxTTL))
	case ttl > time.Duration(p.MaxTTL):
		return denied("rule maxTTL: ttl %s exceeds %s", ttl, time.Duration(p.MaxTTL))
	}
	return nil
}
