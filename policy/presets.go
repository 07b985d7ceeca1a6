package policy

import (
	"cmp"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
)

// Preset is a named launch inside the policy ("gpu" → types, AMI, TTL), so
// a chat message or an SMS can say "launch gpu" instead of spelling out a
// launch. Every value must itself be allowed by the policy: a preset can
// never grant what the policy does not, and ResolveLaunch checks the result
// again like any request.
type Preset = api.Preset

// MaxPresets bounds how many presets one policy may name.
const MaxPresets = 20

// presetNameRe leaves out dots, so a preset can never be read as an
// instance type ("t3.micro") by the command language.
var presetNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// reservedPresetNames are words of the command language: a preset with one
// of these names could never be reached, or would change what a command means.
var reservedPresetNames = []string{"launch", "status", "terminate", "price", "help", "cancel", "in", "for", "code", "all", "mfa"}

// validatePresets checks every preset against the rest of the policy.
func (p *Policy) validatePresets() error {
	if len(p.Presets) > MaxPresets {
		return invalid("presets", "at most %d presets", MaxPresets)
	}
	if len(p.Presets) > 0 && !p.Allows(api.TaskLaunch) {
		return invalid("presets", "presets describe launches; this policy does not allow launch")
	}
	for _, name := range p.PresetNames() {
		if err := p.validatePreset(name, p.Presets[name]); err != nil {
			return err
		}
	}
	return nil
}

// validatePreset checks one preset: it may only narrow what the policy
// allows.
func (p *Policy) validatePreset(name string, pr Preset) error {
	field := "presets." + name
	if !presetNameRe.MatchString(name) || slices.Contains(reservedPresetNames, name) {
		return invalid("presets", "%q: a preset name is 1-32 lower-case letters, digits, - or _, starts with a letter, and is not a command word", name)
	}
	for _, t := range pr.InstanceTypes {
		if !typeRe.MatchString(t) || strings.ContainsAny(t, "*?[") {
			return invalid(field+".instanceTypes", "%q is not an instance type", t)
		}
		if !p.MatchType(t) {
			return invalid(field+".instanceTypes", "%s is not allowed by policy.instanceTypes", t)
		}
	}
	switch top := cmp.Or(p.MaxPrice, MaxPriceCeiling); {
	case pr.AMI != "" && !slices.Contains(p.AMIs, pr.AMI):
		return invalid(field+".ami", "%s is not one of policy.amis", pr.AMI)
	case pr.TTL != 0 && (pr.TTL < Duration(time.Minute) || pr.TTL > p.MaxTTL):
		return invalid(field+".ttl", "must be between 1m and maxTTL %s", time.Duration(p.MaxTTL))
	case pr.Count < 0 || pr.Count > p.MaxCount:
		return invalid(field+".count", "must be 1-%d (maxCount)", p.MaxCount)
	case !(pr.MaxPrice >= 0 && pr.MaxPrice <= top):
		return invalid(field+".maxPrice", "must be between 0 and %g dollars per instance-hour (the policy's maxPrice, else the ceiling)", top)
	case pr.Region != "" && !p.AllowsRegion(pr.Region):
		return invalid(field+".region", "%s is not one of policy.regions", pr.Region)
	}
	return nil
}

// PresetNames returns the policy's preset names, sorted.
func (p *Policy) PresetNames() []string {
	names := make([]string, 0, len(p.Presets))
	for n := range p.Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ApplyPreset fills what r leaves unset from the named preset. What the
// request gives wins (it is checked against the policy all the same).
func (p *Policy) ApplyPreset(name string, r Request) (Request, error) {
	pr, ok := p.Presets[name]
	if !ok {
		if len(p.Presets) == 0 {
			return r, badField("preset", "this token has no presets; name instance types instead")
		}
		return r, badField("preset", "no preset %q; this token has %s", name, strings.Join(p.PresetNames(), ", "))
	}
	if r.Task != api.TaskLaunch {
		return r, badField("preset", "presets go with launch")
	}
	if len(r.InstanceTypes) == 0 {
		r.InstanceTypes = slices.Clone(pr.InstanceTypes)
	}
	if r.AMI == "" {
		r.AMI = pr.AMI
	}
	if r.TTL == 0 {
		r.TTL = time.Duration(pr.TTL)
	}
	if r.Count == 0 {
		r.Count = pr.Count
	}
	if r.MaxPrice == 0 {
		r.MaxPrice = pr.MaxPrice
	}
	if r.Region == "" {
		r.Region = pr.Region
	}
	return r, nil
}
