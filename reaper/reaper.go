// Package reaper ends what outlived its time: instances past their
// spotter:expires-at, instances of revoked tokens, launch templates no live
// instance needs, and signature nonces whose window has closed. Every
// replica may run it; each of its actions is idempotent.
package reaper

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/spot"
)

// Tokens is what a pass reads of the capability registry
// (*capability.Registry).
type Tokens interface {
	// SweepNonces drops signature nonces whose window has closed.
	SweepNonces(ctx context.Context) (int, error)
	// Walk hands over every token, revoked ones included, a page at a
	// time, in id order.
	Walk(ctx context.Context, fn func(page []capability.Info) error) error
	// Revoked reports whether a token id is revoked (or gone).
	Revoked(ctx context.Context, id string) (bool, error)
	// CredentialsOf unseals a page's AWS credentials (errs[i] for token
	// i); the caller clears them.
	CredentialsOf(ctx context.Context, page []capability.Info) ([]capability.Credentials, []error)
	// Account names the account a token's credentials reach
	// (capability.AccountKey) without opening them, when it is known.
	Account(info capability.Info) (string, bool)
}

// Spot is the AWS calls a pass makes (*spot.Client).
type Spot interface {
	Session(ctx context.Context, tokenID string, creds spot.Credentials, mfa spot.MFA, region string) (aws.CredentialsProvider, error)
	Reap(ctx context.Context, creds aws.CredentialsProvider, region string, now time.Time, revoked func(tokenID string) bool) (spot.ReapReport, error)
	Status(ctx context.Context, creds aws.CredentialsProvider, region, tokenID string, ids []string) (spot.StatusResult, error)
	ExpandTypes(ctx context.Context, creds aws.CredentialsProvider, region string, list []string) ([]string, []string, error)
	Replace(ctx context.Context, creds aws.CredentialsProvider, region, tokenID, instanceID string, itypes []string, caps spot.Caps) (spot.Instance, bool, error)
}

var (
	_ Tokens = (*capability.Registry)(nil)
	_ Spot   = (*spot.Client)(nil)
)

// Reaper runs passes on an interval.
type Reaper struct {
	Tokens   Tokens
	Spot     Spot
	Interval time.Duration
	// Log receives one audit event per action.
	Log *slog.Logger
	Now func() time.Time
	// Observe, if set, is told each action (metrics).
	Observe func(a spot.ReapAction)
	// Usage, if set, is told after each pass what each token runs now
	// (zero for nothing), for every token whose accounts were all reaped;
	// Forget, the revoked tokens, whose gauges should go.
	Usage  func(tokenID string, u spot.Usage)
	Forget func(tokenID string)
	// Limits, if set, is told each live token's policy after each pass, so
	// usage can be watched against its caps (maxRunning, maxHourlySpend).
	Limits func(tokenID string, p api.Policy)
	// Passed, if set, is told how each pass of Run ended: PassOK,
	// PassPartial (some token's account or region could not be reaped) or
	// PassFailed (the pass stopped: the token list could not be read, or it
	// panicked).
	Passed func(result string)
	// Report, if set, is told of each pass of Run as a whole when it ends
	// (the console shows the last one).
	Report func(PassReport)
}

// PassReport is one pass as a whole: when, how many account × region
// pairs it reaped and how many of them failed, and what it did.
type PassReport struct {
	Start, End       time.Time
	Accounts, Failed int
	Actions          []spot.ReapAction
	// Partial: some token went unreaped (its credentials unusable, or
	// one of its accounts or regions failing).
	Partial bool
	Err     error
}

// How a pass ended, for Reaper.Passed.
const (
	PassOK      = "ok"
	PassPartial = "partial"
	PassFailed  = "failed"
)

// Run reaps every Interval until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		start := r.now()
		rep, err := r.safePass(ctx)
		if err != nil && ctx.Err() == nil {
			r.Log.Error("reaper pass failed", "error", err)
		}
		if r.Passed != nil && ctx.Err() == nil {
			switch {
			case err != nil:
				r.Passed(PassFailed)
			case rep.Partial:
				r.Passed(PassPartial)
			default:
				r.Passed(PassOK)
			}
		}
		if r.Report != nil && ctx.Err() == nil {
			rep.Start, rep.End, rep.Err = start, r.now(), err
			r.Report(rep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// safePass is a Pass whose panic is logged (with its stack) and retried on
// the next tick: a reaper that died would leave instances running past
// their TTL with nothing but their own guard to stop them.
func (r *Reaper) safePass(ctx context.Context) (rep PassReport, err error) {
	defer safe.Recover(ctx, r.Log, "reaper pass", &err)
	return r.pass(ctx)
}

func (r *Reaper) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// account is one set of credentials in one region: a reap covers all the
// spotter instances they can see, whichever token launched them.
type account struct {
	key    string
	region string
}

// Pass reaps once and returns what it did.
func (r *Reaper) Pass(ctx context.Context) ([]spot.ReapAction, error) {
	rep, err := r.pass(ctx)
	return rep.Actions, err
}

// pass is Pass as a whole: what it did, how many account × region pairs
// it reaped and failed, and whether some token went unreaped.
func (r *Reaper) pass(ctx context.Context) (PassReport, error) {
	now := r.now
	if _, err := r.Tokens.SweepNonces(ctx); err != nil {
		r.Log.Warn("sweep signature nonces", "error", err)
	}
	var infos []capability.Info
	revoked := map[string]bool{}
	byID := map[string]capability.Info{}
	isRevoked := func(id string) bool {
		if revoked[id] {
			return true
		}
		// Not seen yet (a later page), or revoked since it was listed
		// (the walk's record may be older than a pass).
		gone, err := r.Tokens.Revoked(ctx, id)
		if err == nil && gone {
			revoked[id] = true
		}
		return err == nil && gone
	}
	done := map[account]bool{}
	failed := map[account]bool{}
	accounts := map[string][]account{} // by token; absent: its credentials could not be used
	usage := map[string]spot.Usage{}
	var all []spot.ReapAction
	skipped := 0 // tokens whose credentials could not be used
	// A page at a time: the token list is walked shard by shard, and each
	// page's credentials are opened together (a Transit batch with Vault)
	// while its records are cached.
	reapAll := func(info capability.Info, provider aws.CredentialsProvider, key string) {
		for _, region := range info.Policy.Regions {
			acct := account{key: key, region: region}
			accounts[info.ID] = append(accounts[info.ID], acct)
			if done[acct] {
				continue
			}
			done[acct] = true
			acts, err := r.reap(ctx, provider, region, now(), isRevoked, byID, usage)
			if err != nil {
				failed[acct] = true
				r.Log.Warn("reap failed", "token_id", info.ID, "region", region, "error", err)
				continue
			}
			all = append(all, acts...)
		}
	}
	// A page at a time, each page's credentials opened together (a
	// Transit batch with Vault), and only those of tokens whose account
	// is not known or has regions left to reap (reapPage): 100,000 tokens
	// on a few accounts cost a few opens a pass, not 100,000.
	err := r.Tokens.Walk(ctx, func(page []capability.Info) error {
		for _, i := range page {
			byID[i.ID] = i
			if i.RevokedAt != nil {
				revoked[i.ID] = true
			}
		}
		infos = append(infos, page...)
		r.reapPage(ctx, page, done, reapAll, &skipped)
		return nil
	})
	if err != nil {
		return PassReport{}, err
	}
	r.report(infos, revoked, accounts, failed, usage)
	return PassReport{Accounts: len(done), Failed: len(failed), Actions: all, Partial: len(failed) > 0 || skipped > 0}, nil
}

// reap reaps one account in one region and adds its usage to usage.
func (r *Reaper) reap(ctx context.Context, provider aws.CredentialsProvider, region string, now time.Time, isRevoked func(string) bool,
	byID map[string]capability.Info, usage map[string]spot.Usage) ([]spot.ReapAction, error) {
	rep, err := r.Spot.Reap(ctx, provider, region, now, isRevoked)
	if err != nil {
		return nil, err
	}
	for tok, u := range rep.Usage {
		t := usage[tok]
		t.Running += u.Running
		t.HourlySpend += u.HourlySpend
		usage[tok] = t
	}
	for _, e := range rep.Errors {
		r.Log.Warn("reap item failed", "region", region, "error", e)
	}
	for _, a := range rep.Actions {
		r.Log.Info("audit", "event", "reap", "action", a.Action, "reason", a.Reason,
			"instance_id", a.InstanceID, "template", a.Template, "spot_request", a.Request, "token_id", a.TokenID, "region", region)
		if r.Observe != nil {
			r.Observe(a)
		}
		if a.Action == spot.ActionInterrupted {
			r.replace(ctx, provider, region, byID[a.TokenID], a.InstanceID, now)
		}
	}
	return rep.Actions, nil
}

// report hands the pass's per-token usage to Usage and Forget. A token is
// reported only when every account and region it may use was reaped: a
// partial count would read as instances gone.
func (r *Reaper) report(infos []capability.Info, revoked map[string]bool, accounts map[string][]account, failed map[account]bool, usage map[string]spot.Usage) {
	for _, info := range infos {
		if revoked[info.ID] {
			if r.Forget != nil {
				r.Forget(info.ID)
			}
			continue
		}
		if r.Limits != nil {
			r.Limits(info.ID, info.Policy)
		}
		accts, ok := accounts[info.ID]
		if !ok || r.Usage == nil {
			continue
		}
		complete := true
		for _, a := range accts {
			complete = complete && !failed[a]
		}
		if complete {
			r.Usage(info.ID, usage[info.ID])
		}
	}
}

// provider picks credentials that need no MFA code: the stored keys as they
// are, or the token's role assumed without one. A token whose account
// demands MFA for every call cannot be reaped here; the instance's own TTL
// guard still powers it off.
func (r *Reaper) provider(ctx context.Context, info capability.Info, c capability.Credentials) (aws.CredentialsProvider, string) {
	if c.RoleARN == "" {
		return spot.Static(c), capability.AccountKey(c)
	}
	p, err := r.Spot.Session(ctx, info.ID, c, spot.MFA{}, info.Policy.Regions[0])
	if err != nil {
		r.Log.Warn("reaper cannot assume the token's role", "token_id", info.ID, "error", err)
		return nil, ""
	}
	return p, capability.AccountKey(c)
}

// replace relaunches an interrupted instance when its token's policy says
// replaceInterrupted and the token is still under maxRunning. Replacing is
// idempotent per interrupted instance, so every pass and every replica may
// try it.
func (r *Reaper) replace(ctx context.Context, creds aws.CredentialsProvider, region string, info capability.Info, instanceID string, now time.Time) {
	if info.ID == "" || !info.Policy.ReplaceInterrupted || info.Status(now) != "active" {
		return
	}
	st, err := r.Spot.Status(ctx, creds, region, info.ID, nil)
	if err != nil {
		r.Log.Warn("replace: status failed", "token_id", info.ID, "error", err)
		return
	}
	live := 0
	for _, in := range st.Instances {
		if in.State == "pending" || in.State == "running" {
			if in.Tag(spot.TagReplaces) == instanceID {
				return // already replaced
			}
			live++
		}
	}
	if live >= info.Policy.MaxRunning {
		r.Log.Info("audit", "event", "replace", "outcome", "skipped", "reason", "maxRunning", "token_id", info.ID, "interrupted", instanceID)
		return
	}
	// The caps of a launch hold for a replacement too: the policy's price
	// per instance, and the hourly budget less what the token runs now.
	caps := spot.Caps{MaxPrice: info.Policy.MaxPrice}
	if spend := info.Policy.MaxHourlySpend; spend > 0 {
		caps.MaxTotalPrice = spend - st.HourlyCost.Dollars()
		if caps.MaxTotalPrice <= 1e-9 {
			r.Log.Info("audit", "event", "replace", "outcome", "skipped", "reason", "maxHourlySpend", "token_id", info.ID, "interrupted", instanceID,
				"hourly_cost", st.HourlyCost.String())
			return
		}
		if caps.MaxPrice > 0 {
			caps.MaxTotalPrice = min(caps.MaxTotalPrice, caps.MaxPrice)
		}
	}
	types, _, err := r.Spot.ExpandTypes(ctx, creds, region, info.Policy.InstanceTypes)
	if err != nil {
		r.Log.Warn("audit", "event", "replace", "outcome", "failed", "token_id", info.ID, "interrupted", instanceID, "error", err)
		return
	}
	in, ok, err := r.Spot.Replace(ctx, creds, region, info.ID, instanceID, types, caps)
	switch {
	case apperr.Code(err) == apperr.PolicyDenied:
		r.Log.Info("audit", "event", "replace", "outcome", "skipped", "reason", apperr.Details(err), "token_id", info.ID, "interrupted", instanceID)
	case err != nil:
		r.Log.Warn("audit", "event", "replace", "outcome", "failed", "token_id", info.ID, "interrupted", instanceID, "error", err)
	case ok:
		r.Log.Info("audit", "event", "replace", "outcome", "ok", "token_id", info.ID, "interrupted", instanceID, "instance_id", in.ID, "type", in.Type)
	}
}
