package task

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/spot"
)

// run calls AWS for a guarded task with a session made for it alone.
func (p *Pipeline) run(ctx context.Context, g Guarded) (Result, error) {
	creds, err := p.Tokens.Credentials(ctx, g.Token)
	if err != nil {
		return Result{}, err
	}
	mfa := spot.MFA{}
	if g.Token.MFA.Type == api.MFAAWS {
		mfa = spot.MFA{SerialNumber: g.Token.MFA.SerialNumber, Code: g.Task.MFACode}
	}
	sess, err := p.Spot.Session(ctx, g.Token.ID, creds, mfa, g.Region)
	creds = api.Credentials{}
	// STS's verdict on an AWS MFA code counts against the token's budget
	// as a wrong TOTP code does (capability cannot ask STS itself).
	err = p.Tokens.SettleMFA(ctx, g.Token, err)
	if err != nil {
		return Result{}, err
	}
	switch g.Req.Task {
	case api.TaskLaunch:
		r, err := p.launch(ctx, g, sess)
		return Result{Launch: r}, err
	case api.TaskTerminate:
		r, err := p.Spot.Terminate(ctx, sess, g.Region, g.Token.ID, g.Req.InstanceIDs, g.Req.All)
		p.ledger().Ended(ctx, g.Token.ID, r.Terminated)
		return Result{Terminate: &r}, err
	case api.TaskStatus:
		r, err := p.Spot.StatusPaged(ctx, sess, g.Region, g.Token.ID, g.Req.InstanceIDs, statusPage(g.Task, g.Req.InstanceIDs))
		return Result{Status: &r}, err
	case api.TaskPrice:
		r, err := p.price(ctx, g, sess)
		return Result{Price: r}, err
	case api.TaskCancel:
		r, err := p.Spot.Cancel(ctx, sess, g.Region, g.Token.ID)
		return Result{Cancel: &r}, err
	case api.TaskExtend:
		r, err := p.Spot.Extend(ctx, sess, g.Region, g.Token.ID, g.Req.InstanceIDs, g.Req.All, g.Req.TTL)
		return Result{Extend: &r}, err
	}
	return Result{}, apperr.New(apperr.Invalid, "task: %q is not a task", g.Req.Task)
}

// statusPage is the page a status asks for: named ids are listed whole
// (at most 100 of them), a token's whole list a page of limit (100 when
// not given), since it has no bound of its own.
func statusPage(t Task, ids []string) spot.StatusPage {
	if len(ids) > 0 {
		return spot.StatusPage{}
	}
	page := spot.StatusPage{Limit: spot.StatusDefaultPage, Cursor: t.Cursor}
	if t.Limit != nil {
		page.Limit = *t.Limit
	}
	return page
}

func (p *Pipeline) launch(ctx context.Context, g Guarded, sess aws.CredentialsProvider) (*spot.LaunchResult, error) {
	pol := g.Token.Policy
	// The launch as check resolved it, before MFA: only the caps on what
	// the token already runs are checked again, by admit, against the
	// ledger's count of it.
	l := g.launch
	var err error
	// The policy's patterns ("c5.*") stand for the region's types that
	// match; Launch then keeps those the AMI's architecture runs.
	var typeWarnings []string
	if l.InstanceTypes, typeWarnings, err = p.Spot.ExpandTypes(ctx, sess, l.Region, l.InstanceTypes); err != nil {
		return nil, err
	}
	key, keyWarning := p.idempotencyKey(g)
	// A launch that has not heard from EC2 by shortly before its claim's
	// lease ends gives up: past the lease, other replicas no longer count
	// the claim, and a CreateFleet landing then could pass the caps. A
	// retry with the same key finds whatever it started.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The launch's identity: a retry of it reaches EC2 with the same
	// ClientToken, so the ledger holds one reservation for both.
	a := &admission{ledger: p.ledger(), tokenID: g.Token.ID, clientToken: spot.ClientToken(g.Token.ID, key),
		region: l.Region, pol: &pol, launch: l, giveUp: cancel,
		list: func(ctx context.Context) ([]api.Instance, error) {
			return p.Spot.Live(ctx, sess, l.Region, g.Token.ID, true)
		}}
	// Whatever happens (a panic included), the claim is given back; the
	// settle below, with the instances started, comes first when it runs.
	defer a.release()
	spec := spot.LaunchSpec{
		Launch: l, Credentials: sess, TokenID: g.Token.ID, ClientToken: a.clientToken,
		RequestID: g.RequestID, Wait: g.Task.Wait, GuardTTL: pol.GuardTTL(),
		AdmitPrices: pol.MaxHourlySpend > 0, MaxTotalPriceRule: "maxHourlySpend",
		AdmitCounts: true,
		Admit:       func([]spot.Instance) (float64, error) { return a.admit(ctx) },
		Started:     a.started,
	}
	res, err := p.Spot.Launch(lctx, spec)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		e := apperr.Wrap(err, apperr.Unavailable, "EC2 did not answer before this launch's reservation of the token's capacity lapsed (%s lease); send the same request again: with the same Idempotency-Key it finds whatever this one started", a.ledger.Lease())
		e.RetryAfter = 2 * time.Second
		err = e
	}
	a.settle(res)
	if err != nil {
		return nil, a.failed(err, key)
	}
	res.Warnings = append(typeWarnings, res.Warnings...)
	switch {
	case keyWarning != "" && res.Replayed:
		res.Warnings = append(res.Warnings, replayWarning(pol.Dedupe()))
	case keyWarning != "" && !res.DryRun: // a dry run starts nothing to repeat
		res.Warnings = append(res.Warnings, keyWarning)
	}
	return &res, nil
}

// idempotencyKey picks what makes a retried launch the same launch: the
// provider's delivery id (authenticated by its signature), else the
// caller's key, else the signed request's nonce, else the body itself within
// the policy's dedupe window, so a webhook redelivered minutes later cannot
// launch twice. With the window off ("0"), a keyless launch is always new.
// The second value is a warning for the reply, or "".
func (p *Pipeline) idempotencyKey(g Guarded) (string, string) {
	switch {
	case g.delivery != "":
		return g.Source + ":" + g.delivery, ""
	case g.idemKey != "":
		return "key:" + g.idemKey, ""
	case g.Task.IdempotencyKey != "":
		return "key:" + g.Task.IdempotencyKey, ""
	case g.nonce != "":
		return "sig:" + g.nonce, ""
	}
	window := g.Token.Policy.Dedupe()
	if window <= 0 {
		var b [16]byte
		rand.Read(b[:])
		return "once:" + hex.EncodeToString(b[:]), ""
	}
	sum := sha256.Sum256(g.body)
	bucket := p.now().UnixNano() / int64(window)
	return "body:" + hex.EncodeToString(sum[:]) + ":" + window.String() + ":" + strconv.FormatInt(bucket, 10),
		fmt.Sprintf("no Idempotency-Key given: an identical launch within the token's dedupe window (%s) is treated as this one; send an Idempotency-Key header (or idempotencyKey) to tell launches apart", window)
}

// replayWarning tells the caller of a keyless launch that was answered as a
// replay how to get a new launch instead.
func replayWarning(window time.Duration) string {
	return fmt.Sprintf("replayed: an identical launch without an Idempotency-Key was made within the token's dedupe window (%s), so these are its instances and nothing new was started; to launch again, send a new Idempotency-Key header (or idempotencyKey), or change the body (e.g. a tag)", window)
}

func (p *Pipeline) price(ctx context.Context, g Guarded, sess aws.CredentialsProvider) (*spot.PriceResult, error) {
	types, warnings := g.Req.InstanceTypes, []string(nil)
	for _, t := range types {
		if !g.Token.Policy.MatchType(t) {
			return nil, apperr.New(apperr.PolicyDenied, "rule instanceTypes: %s is not allowed (allowed: %s)", t, strings.Join(g.Token.Policy.InstanceTypes, ", "))
		}
	}
	if len(types) == 0 {
		// Names and patterns alike: a pattern prices every type of the
		// region it matches.
		var err error
		if types, warnings, err = p.Spot.ExpandTypes(ctx, sess, g.Region, g.Token.Policy.InstanceTypes); err != nil {
			return nil, err
		}
	}
	r, err := p.Spot.Price(ctx, sess, g.Region, types)
	if err != nil {
		return nil, err
	}
	r.Warnings = append(warnings, r.Warnings...)
	return &r, nil
}
