package pool

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/policy"
)

// WithinPolicy reports the first way p reaches beyond its token's policy
// (and fills maxPrice and maxHourlySpend from it when p names none):
// a pool can never do what its token could not. Like Validate it answers
// apperr.Invalid (the definition is what must change) with the pool's
// field first and the policy's rule named. The token's MFA setting lives
// on the token record, not the policy; the admin API refuses an MFA token
// before it gets here. Launches are still checked against the policy one
// by one; this catches at create time what would otherwise fail at every
// reconcile.
func (p *Pool) WithinPolicy(pol *policy.Policy) error {
	// A pool that names no price or spend ceiling takes the token's.
	if p.MaxPrice == 0 {
		p.MaxPrice = pol.MaxPrice
	}
	if p.MaxHourlySpend == 0 {
		p.MaxHourlySpend = pol.MaxHourlySpend
	}
	if err := p.withinBounds(pol); err != nil {
		return err
	}
	for _, s := range p.Subnets {
		if len(pol.Subnets) > 0 && !slices.Contains(pol.Subnets, s) {
			return invalid("subnets", "%q is not in the token's policy subnets", s)
		}
	}
	minWeight := MaxWeight
	for i, lc := range p.LaunchConfigs {
		if !covered(pol.InstanceTypes, lc.InstanceType) {
			return invalid("launchConfigs["+strconv.Itoa(i)+"].instanceType", "%q is not within the token's policy instanceTypes %v", lc.InstanceType, pol.InstanceTypes)
		}
		minWeight = min(minWeight, lc.Capacity)
	}
	// The most instances the pool can run: every unit on the lightest config.
	if n := (p.MaxCapacity + minWeight - 1) / minWeight; n > pol.MaxRunning {
		return invalid("maxCapacity", "%d capacity units can be %d instances of weight %d, over the token's policy maxRunning %d", p.MaxCapacity, n, minWeight, pol.MaxRunning)
	}
	return nil
}

func (p *Pool) withinBounds(pol *policy.Policy) error {
	switch {
	case !pol.Allows(api.TaskLaunch) || !pol.Allows(api.TaskTerminate):
		return invalid("tokenId", "the token's policy must allow launch and terminate (tasks) to back a pool")
	case pol.DryRunOnly:
		return invalid("tokenId", "the token's policy is dryRunOnly: a pool on it could never launch")
	case !pol.AllowsRegion(p.Region):
		return invalid("region", "%q is not in the token's policy regions %v", p.Region, pol.Regions)
	case len(pol.AMIs) > 0 && !slices.Contains(pol.AMIs, p.AMI):
		return invalid("ami", "%q is not in the token's policy amis", p.AMI)
	case p.UserData != "" && !pol.AllowUserData:
		return invalid("userData", "the token's policy does not allow user data (allowUserData)")
	case p.Bootstrap != "" && !pol.AllowUserData:
		// The template is the instances' user data: a token that may not
		// bring its own does not get spotter's either.
		return invalid("bootstrap", "the template is user data, which the token's policy does not allow (allowUserData)")
	case pol.MaxPrice > 0 && p.MaxPrice > pol.MaxPrice:
		return invalid("maxPrice", "%g is over the token's policy maxPrice %g", p.MaxPrice, pol.MaxPrice)
	case pol.MaxHourlySpend > 0 && p.MaxHourlySpend > pol.MaxHourlySpend:
		return invalid("maxHourlySpend", "%g is over the token's policy maxHourlySpend %g", p.MaxHourlySpend, pol.MaxHourlySpend)
	case time.Duration(p.MaxLifetime) > time.Duration(pol.MaxTTL):
		return invalid("maxLifetime", "%s is longer than the token's policy maxTTL %s", time.Duration(p.MaxLifetime), time.Duration(pol.MaxTTL))
	case (p.OnDemandBase > 0 || p.OnDemandFallback) && !pol.OnDemandFallback:
		return invalid("onDemandBase", "the token's policy does not allow on-demand instances (onDemandFallback)")
	}
	return nil
}

// covered reports whether every type a pool's name or pattern can stand
// for is allowed by one of the policy's. A concrete type is matched; a
// pool pattern is covered only by the same pattern or by a policy pattern
// that is a plain prefix and "*" ("c6i.*" covers "c6i.2*"): deciding
// whether one glob contains another in general is not worth the risk of
// getting it wrong, and the launch path filters expansions again.
func covered(allowed []string, t string) bool {
	if !strings.ContainsAny(t, "*?[") {
		return (&policy.Policy{InstanceTypes: allowed}).MatchType(t)
	}
	for _, a := range allowed {
		if a == t {
			return true
		}
		if prefix, ok := strings.CutSuffix(a, "*"); ok && !strings.ContainsAny(prefix, "*?[\\") && strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return false
}
