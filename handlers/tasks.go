package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/spot"
)

// TaskDeps is what the task endpoints use.
type TaskDeps struct {
	Tokens *capability.Registry
	Spot   *spot.Client
	// Audit receives one event per task: token id, task, outcome, instance
	// ids, price. Never secrets.
	Audit *slog.Logger
	// Observe, if set, is told each task's outcome (metrics).
	Observe func(task, outcome string, res Result)
	// Refusals bounds the audit events of refused tasks under a flood;
	// nil audits each one.
	Refusals *RefusalLog
	// Sources configures the provider endpoints (/hooks/:token/<source>).
	Sources SourceConfig
	// Inflight counts the launches under way against each token's limits:
	// on this replica (inflight.New) or on every replica sharing the store
	// (inflight.NewShared); nil counts only what EC2 lists.
	Inflight *inflight.Ledger
	// Background runs what outlives a request (Slack tasks), for shutdown
	// to wait on; nil runs it untracked.
	Background *Background
}

// Result is what a task did, for the reply, the audit log and metrics.
type Result struct {
	Launch    *spot.LaunchResult
	Terminate *spot.TerminateResult
	Status    *spot.StatusResult
	Price     *spot.PriceResult
	Cancel    *spot.CancelResult
	Extend    *spot.ExtendResult
}

// TaskByBearer serves POST /v1/tasks: the token in Authorization, where it
// stays out of URLs and access logs.
func TaskByBearer(d TaskDeps) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		if !ok || raw == "" {
			return apperr.New(apperr.TokenInvalid, "send the capability token as Authorization: Bearer <token>, or POST to its URL")
		}
		return d.serve(c, strings.TrimSpace(raw))
	}
}

// TaskByURL serves POST /hooks/:token, the capability URL itself.
func TaskByURL(d TaskDeps) echo.HandlerFunc {
	return func(c echo.Context) error { return d.serve(c, c.Param("token")) }
}

func (d TaskDeps) serve(c echo.Context, raw string) error {
	start := time.Now()
	ctx := c.Request().Context()
	g, err := d.guard(c, raw, nativeSource(d))
	if err != nil {
		d.refused(ctx, g, err, start)
		return err
	}
	res, err := d.execute(ctx, g, start)
	if err != nil {
		return err
	}
	out := d.replyBody(g, res)
	out.Code = http.StatusOK
	return c.JSON(out.Code, out)
}

// run calls AWS for a guarded task with a session made for it alone.
func (d TaskDeps) run(ctx context.Context, g guarded) (Result, error) {
	creds, err := d.Tokens.Credentials(ctx, g.tok)
	if err != nil {
		return Result{}, err
	}
	mfa := spot.MFA{}
	if g.tok.MFA.Type == api.MFAAWS {
		mfa = spot.MFA{SerialNumber: g.tok.MFA.SerialNumber, Code: g.task.MFACode}
	}
	sess, err := d.Spot.Session(ctx, g.tok.ID, creds, mfa, g.region)
	creds = api.Credentials{}
	// STS's verdict on an AWS MFA code counts against the token's budget
	// as a wrong TOTP code does (capability cannot ask STS itself).
	err = d.Tokens.SettleMFA(ctx, g.tok, err)
	if err != nil {
		return Result{}, err
	}
	switch g.req.Task {
	case api.TaskLaunch:
		r, err := d.launch(ctx, g, sess)
		return Result{Launch: r}, err
	case api.TaskTerminate:
		r, err := d.Spot.Terminate(ctx, sess, g.region, g.tok.ID, g.req.InstanceIDs, g.req.All)
		d.Inflight.Ended(ctx, g.tok.ID, r.Terminated)
		return Result{Terminate: &r}, err
	case api.TaskStatus:
		r, err := d.Spot.Status(ctx, sess, g.region, g.tok.ID, g.req.InstanceIDs)
		return Result{Status: &r}, err
	case api.TaskPrice:
		r, err := d.price(ctx, g, sess)
		return Result{Price: r}, err
	case api.TaskCancel:
		r, err := d.Spot.Cancel(ctx, sess, g.region, g.tok.ID)
		return Result{Cancel: &r}, err
	case api.TaskExtend:
		r, err := d.Spot.Extend(ctx, sess, g.region, g.tok.ID, g.req.InstanceIDs, g.req.All, g.req.TTL)
		return Result{Extend: &r}, err
	}
	return Result{}, apperr.New(apperr.Invalid, "task: %q is not a task", g.req.Task)
}

func (d TaskDeps) launch(ctx context.Context, g guarded, sess aws.CredentialsProvider) (*spot.LaunchResult, error) {
	pol := g.tok.Policy
	// The launch as check resolved it, before MFA: only the caps on what
	// the token already runs are checked again, by admit once Launch has
	// listed it.
	l := g.launch
	var err error
	// The policy's patterns ("c5.*") stand for the region's types that
	// match; Launch then keeps those the AMI's architecture runs.
	var typeWarnings []string
	if l.InstanceTypes, typeWarnings, err = d.Spot.ExpandTypes(ctx, sess, l.Region, l.InstanceTypes); err != nil {
		return nil, err
	}
	key, keyWarning := idempotencyKey(g)
	// The launch's identity: a retry of it reaches EC2 with the same
	// ClientToken, so the ledger holds one reservation for both.
	clientToken := spot.ClientToken(g.tok.ID, key)
	var ticket *inflight.Ticket
	// Whatever happens (a panic included), the claim is given back; the
	// Done below, with the instances started, comes first when it runs.
	defer func() { ticket.Done(nil) }()
	// A launch that has not heard from EC2 by shortly before its claim's
	// lease ends gives up: past the lease, other replicas no longer count
	// the claim, and a CreateFleet landing then could pass the caps. A
	// retry with the same key finds whatever it started.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var leaseTimer *time.Timer
	stopLease := func() {
		if leaseTimer != nil {
			leaseTimer.Stop()
		}
	}
	defer stopLease()
	spec := spot.LaunchSpec{
		Launch: l, Credentials: sess, TokenID: g.tok.ID, ClientToken: clientToken,
		RequestID: g.requestID, Wait: g.task.Wait, GuardTTL: pol.GuardTTL(),
		AdmitPrices: pol.MaxHourlySpend > 0, MaxTotalPriceRule: "maxHourlySpend",
		AdmitCounts: true,
		Admit: func([]spot.Instance) (float64, error) {
			var fleetCap float64
			// The ledger keeps the token's count (per region, priced, as a
			// policy may gain a spend cap) and lists its instances only
			// when it must (AdmitCounts: others is this launch's own).
			live := func(ctx context.Context) ([]api.Instance, error) {
				return d.Spot.Live(ctx, sess, l.Region, g.tok.ID, true)
			}
			tk, err := d.Inflight.AdmitListing(ctx, g.tok.ID, clientToken, l.Region, live, func(u inflight.Counted) (inflight.Claim, error) {
				fleetCap = 0
				usage := u.Usage
				if err := pol.CheckUsage(l, usage); err != nil {
					return inflight.Claim{}, inFlightDetail(err, u)
				}
				claim := inflight.Claim{Count: l.Count}
				if pol.MaxHourlySpend > 0 {
					// EC2 enforces the budget left as the fleet's total
					// price cap; the launch holds that much while in flight
					// (no more than count × maxPrice when there is one).
					left := pol.MaxHourlySpend - usage.HourlySpend
					if left <= 0 {
						return inflight.Claim{}, inFlightDetail(apperr.New(apperr.PolicyDenied, "rule maxHourlySpend: $%.4f/h already running of $%.4f/h", usage.HourlySpend, pol.MaxHourlySpend), u)
					}
					if l.MaxPrice > 0 {
						left = min(left, float64(l.Count)*l.MaxPrice)
					}
					fleetCap, claim.Spend = left, left
				}
				if l.DryRun {
					return inflight.Claim{}, nil // checked as a launch would be; holds nothing
				}
				return claim, nil
			})
			ticket = tk
			if until := tk.Expires(); !until.IsZero() {
				leaseTimer = time.AfterFunc(time.Until(until)-d.Inflight.Lease()/10, cancel)
			}
			return fleetCap, err
		},
		// Settled as soon as EC2 answered, so a launch that waits for its
		// instances to run does not hold its reservation meanwhile.
		Started: func(ins []spot.Instance) {
			stopLease()
			ticket.Done(ins)
		},
	}
	res, err := d.Spot.Launch(lctx, spec)
	if err != nil && lctx.Err() != nil && ctx.Err() == nil {
		e := apperr.Wrap(err, apperr.Unavailable, "EC2 did not answer before this launch's reservation of the token's capacity lapsed (%s lease); send the same request again: with the same Idempotency-Key it finds whatever this one started", d.Inflight.Lease())
		e.RetryAfter = 2 * time.Second
		err = e
	}
	if res.Replayed {
		// Found after admit (EC2 knew the ClientToken): nothing new started.
		ticket.Done(nil)
	} else {
		ticket.Done(res.Instances)
	}
	if err != nil {
		return nil, err
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

// inFlightDetail adds to a refusal what of the usage it counted belongs to
// launches still under way, which a caller cannot see in status.
func inFlightDetail(err error, u inflight.Counted) error {
	if u.InFlight.Running == 0 || apperr.Code(err) != apperr.PolicyDenied {
		return err
	}
	return apperr.Wrap(err, apperr.PolicyDenied, "%s (counting %d instances, $%.4f/h, of launches of this token in flight)",
		apperr.Details(err), u.InFlight.Running, u.InFlight.HourlySpend)
}

// idempotencyKey picks what makes a retried launch the same launch: the
// provider's delivery id (authenticated by its signature), else the
// caller's key, else the signed request's nonce, else the body itself within
// the policy's dedupe window, so a webhook redelivered minutes later cannot
// launch twice. With the window off ("0"), a keyless launch is always new.
// The second value is a warning for the reply, or "".
func idempotencyKey(g guarded) (string, string) {
	switch {
	case g.delivery != "":
		return g.source + ":" + g.delivery, ""
	case g.idemHeader != "":
		return "key:" + g.idemHeader, ""
	case g.task.IdempotencyKey != "":
		return "key:" + g.task.IdempotencyKey, ""
	case g.nonce != "":
		return "sig:" + g.nonce, ""
	}
	window := g.tok.Policy.Dedupe()
	if window <= 0 {
		var b [16]byte
		rand.Read(b[:])
		return "once:" + hex.EncodeToString(b[:]), ""
	}
	sum := sha256.Sum256(g.body)
	bucket := time.Now().UnixNano() / int64(window)
	return "body:" + hex.EncodeToString(sum[:]) + ":" + window.String() + ":" + strconv.FormatInt(bucket, 10),
		fmt.Sprintf("no Idempotency-Key given: an identical launch within the token's dedupe window (%s) is treated as this one; send an Idempotency-Key header (or idempotencyKey) to tell launches apart", window)
}

// replayWarning tells the caller of a keyless launch that was answered as a
// replay how to get a new launch instead.
func replayWarning(window time.Duration) string {
	return fmt.Sprintf("replayed: an identical launch without an Idempotency-Key was made within the token's dedupe window (%s), so these are its instances and nothing new was started; to launch again, send a new Idempotency-Key header (or idempotencyKey), or change the body (e.g. a tag)", window)
}

func (d TaskDeps) price(ctx context.Context, g guarded, sess aws.CredentialsProvider) (*spot.PriceResult, error) {
	types, warnings := g.req.InstanceTypes, []string(nil)
	for _, t := range types {
		if !g.tok.Policy.MatchType(t) {
			return nil, apperr.New(apperr.PolicyDenied, "rule instanceTypes: %s is not allowed (allowed: %s)", t, strings.Join(g.tok.Policy.InstanceTypes, ", "))
		}
	}
	if len(types) == 0 {
		// Names and patterns alike: a pattern prices every type of the
		// region it matches.
		var err error
		if types, warnings, err = d.Spot.ExpandTypes(ctx, sess, g.region, g.tok.Policy.InstanceTypes); err != nil {
			return nil, err
		}
	}
	r, err := d.Spot.Price(ctx, sess, g.region, types)
	if err != nil {
		return nil, err
	}
	r.Warnings = append(warnings, r.Warnings...)
	return &r, nil
}
