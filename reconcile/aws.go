package reconcile

import (
	"context"
	"encoding/base64"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// Tokens opens a pool's token: its credentials and policy.
type Tokens interface {
	CredentialsByID(ctx context.Context, id string) (capability.Credentials, capability.Info, error)
	Get(ctx context.Context, id string) (capability.Info, error)
}

// AWS is the Lister, Launcher and Terminator over EC2, with each pool's
// token's credentials and within its policy: the same guarantees as a
// single launch (tags, TTL guard, the usage ledger's caps).
type AWS struct {
	Tokens Tokens
	Spot   *spot.Client
	// Ledger counts the token's launches in flight (maxRunning,
	// maxHourlySpend) with every other launch of the token.
	Ledger *inflight.Ledger
	Now    func() time.Time
	// UserData makes a launch's user data: bootstrap.Service.Issue, which
	// gives a pool with a bootstrap template its script carrying the
	// launch's one-use credential (and any other pool its own userData).
	// nil: the pool's own userData.
	UserData func(ctx context.Context, p pool.Pool, clientToken string, capacity int) ([]byte, error)
	// Activity is what the pool's CI sources saw of its instances, by
	// instance id (sources.Service.Activity); nil: nothing, and Classify
	// guesses for every instance.
	Activity func(ctx context.Context, p pool.Pool) (map[string]pool.Activity, error)
	// Reported is what the pool's instances' last heartbeats said they
	// were doing (ReportedBusy, ReportedIdle), by instance id; asked only
	// of a pool with a bootstrap template (no other beats). nil: none.
	Reported func(ctx context.Context, p pool.Pool) (map[string]string, error)
}

// MaxLaunch caps a launch of the pool by its token's policy: its maxCount
// (the most one launch may start, as for any launch of the token) and the
// room its maxRunning leaves beside every live instance of the token, the
// pool's and others'; -1 when there is none. The ledger checks the caps
// again, exactly, as the launch is admitted; this keeps a pool that shares
// its token from asking for more than fits and being refused whole.
func (a *AWS) MaxLaunch(ctx context.Context, p pool.Pool) (int, error) {
	info, err := a.Tokens.Get(ctx, p.TokenID)
	if err != nil {
		return 0, err
	}
	n, most := info.Policy.MaxCount, info.Policy.MaxRunning
	if most <= 0 {
		return n, nil
	}
	sess, _, err := a.session(ctx, p, false)
	if err != nil {
		return 0, err
	}
	live, err := a.Spot.Live(ctx, sess, p.Region, p.TokenID, false)
	if err != nil {
		return 0, err
	}
	room := most - len(live)
	if room <= 0 {
		return -1, nil
	}
	if n <= 0 || room < n {
		n = room
	}
	return n, nil
}

// session is an STS session of the pool's token, and its policy.
func (a *AWS) session(ctx context.Context, p pool.Pool, launching bool) (aws.CredentialsProvider, policy.Policy, error) {
	creds, info, err := a.Tokens.CredentialsByID(ctx, p.TokenID)
	if err != nil {
		return nil, policy.Policy{}, err
	}
	if s := info.Status(a.Now()); launching && s != "active" {
		return nil, policy.Policy{}, apperr.New(apperr.PolicyDenied, "pool %s: its token %s is %s; it launches nothing (update the pool's tokenId)", p.Name, p.TokenID, s)
	}
	sess, err := a.Spot.Session(ctx, p.TokenID, creds, spot.MFA{}, p.Region)
	return sess, policy.Policy(info.Policy), err
}

// Instances lists the pool's live instances as Decide sees them; see
// Classify for how busy and idle are told apart.
func (a *AWS) Instances(ctx context.Context, p pool.Pool, d pool.Demand) ([]pool.Instance, error) {
	sess, _, err := a.session(ctx, p, false)
	if err != nil {
		return nil, err
	}
	ins, err := a.Spot.PoolInstances(ctx, sess, p.Region, p.TokenID, p.Name)
	if err != nil {
		return nil, err
	}
	var seen Seen
	if a.Activity != nil {
		if seen.Jobs, err = a.Activity(ctx, p); err != nil {
			return nil, err
		}
	}
	if a.Reported != nil && p.Bootstrap != "" {
		if seen.Reported, err = a.Reported(ctx, p); err != nil {
			return nil, err
		}
	}
	return Classify(p, ins, d, seen, a.Now()), nil
}

// Launch carries out a pending launch within the token's policy as it is
// now (a policy narrowed since the pool was made binds it too).
func (a *AWS) Launch(ctx context.Context, p pool.Pool, pd Pending) (Launched, error) {
	sess, pol, err := a.session(ctx, p, true)
	if err != nil {
		return Launched{}, err
	}
	bounded := p
	if err := bounded.WithinPolicy(&pol); err != nil {
		return Launched{}, apperr.Wrap(err, apperr.PolicyDenied, "pool %s no longer fits its token's policy: %s", p.Name, apperr.Details(err))
	}
	var configs []spot.PoolConfig
	var warnings []string
	minWeight := pool.MaxWeight
	for _, lc := range pd.Launch.Configs {
		types, w, err := a.Spot.ExpandTypes(ctx, sess, p.Region, []string{lc.InstanceType})
		if err != nil {
			return Launched{}, err
		}
		warnings = append(warnings, w...)
		types = slices.DeleteFunc(types, func(t string) bool { return !pol.MatchType(t) })
		if len(types) > 0 {
			configs = append(configs, spot.PoolConfig{InstanceTypes: types, Weight: lc.Capacity, MaxPrice: bid(bounded.MaxPrice, lc.Utility, pol.MaxPrice)})
			minWeight = min(minWeight, lc.Capacity)
		}
	}
	if len(configs) == 0 {
		return Launched{}, apperr.New(apperr.PolicyDenied, "pool %s: none of its instance types is within its token's policy", p.Name)
	}
	var userData []byte
	switch {
	case a.UserData != nil:
		if userData, err = a.UserData(ctx, p, pd.Launch.ClientToken, pd.Launch.Capacity); err != nil {
			return Launched{}, err
		}
	case p.UserData != "":
		if userData, err = base64.StdEncoding.DecodeString(p.UserData); err != nil {
			return Launched{}, apperr.New(apperr.Invalid, "userData: must be base64")
		}
	}
	// The most instances the launch can start: every unit on the lightest
	// config. The ledger holds that many until EC2 answers.
	most := (pd.Launch.Capacity + minWeight - 1) / minWeight
	var ticket *inflight.Ticket
	defer func() { ticket.Done(nil) }()
	began := a.Now() // before LaunchPool lists the token's instances for Admit
	spec := spot.PoolLaunchSpec{
		Credentials: sess, Region: p.Region, TokenID: p.TokenID, Pool: p.Name, ClientToken: pd.Launch.ClientToken,
		Configs: configs, Subnets: p.Subnets, Capacity: pd.Launch.Capacity, OnDemand: pd.Launch.OnDemand,
		OnDemandFallback: p.OnDemandFallback && pol.OnDemandFallback,
		MaxPrice:         bounded.MaxPrice, MaxTotalPrice: bounded.MaxHourlySpend, AMI: p.AMI, UserData: userData,
		TTL: time.Duration(p.MaxLifetime), At: pd.At,
		Admit: func(others []spot.Instance) (float64, error) {
			var left float64
			// The rules a task's launch is admitted under (policy.Admit).
			tk, err := a.Ledger.AdmitListed(ctx, p.TokenID, pd.Launch.ClientToken, others, began, func(u inflight.Counted) (inflight.Claim, error) {
				var hold policy.Hold
				var err error
				left, hold, err = pol.Admit(api.Launch{Count: most}, u.Usage, u.InFlight)
				return inflight.Claim{Count: hold.Count, Spend: hold.Spend}, err
			})
			ticket = tk
			return left, err
		},
	}
	res, err := a.Spot.LaunchPool(ctx, spec)
	if !res.Replayed {
		ticket.Done(res.Instances)
	}
	out := Launched{Replayed: res.Replayed, Warnings: append(warnings, res.Warnings...)}
	for _, in := range res.Instances {
		out.Instances = append(out.Instances, in.ID)
		out.Units += Weight(p, in.Type)
	}
	return out, err
}

// Terminate ends the pool's instances named by a decision; spot refuses
// any not of the pool's token.
func (a *AWS) Terminate(ctx context.Context, p pool.Pool, ids []string) ([]string, error) {
	sess, _, err := a.session(ctx, p, false)
	if err != nil {
		return nil, err
	}
	res, err := a.Spot.Terminate(ctx, sess, p.Region, p.TokenID, ids, false)
	a.Ledger.Ended(ctx, p.TokenID, res.Terminated)
	return res.Terminated, err
}

// bid is what one instance of a launch config may cost: the pool's
// maxPrice times the config's utility (a config that does more per hour
// may cost more), never over the policy's maxPrice; 0 when the pool names
// no price.
func bid(maxPrice, utility, policyMax float64) float64 {
	b := maxPrice * utility
	if policyMax > 0 {
		b = min(b, policyMax)
	}
	return b
}
