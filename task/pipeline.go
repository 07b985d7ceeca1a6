// Package task runs what a capability token asks for (launch, terminate,
// status, price, cancel) through one pipeline: guard (the token, the
// source's proof, decoding), check (policy, the source's reserve, MFA),
// execute (an AWS session made for the task alone, the spot call, one audit
// event). It knows no HTTP: package handlers turns a webhook into a Request
// and a Source, and a caller without a request (a pool's reconciler) can
// build both itself.
package task

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/policy"
)

// Pipeline is what every task passes through, whatever brought it.
type Pipeline struct {
	Tokens Tokens
	Spot   Spot
	// Inflight counts the launches under way against each token's limits:
	// on this replica (inflight.New) or on every replica sharing the store
	// (inflight.NewShared); nil counts only what EC2 lists.
	Inflight Ledger
	// Audit receives one event per task: token id, task, outcome, instance
	// ids, price. Never secrets.
	Audit *slog.Logger
	// Observe, if set, is told each task's outcome (metrics).
	Observe func(task, outcome string, res Result)
	// Refusals bounds the audit events of refused tasks under a flood;
	// nil audits each one.
	Refusals *RefusalLog
	// Log receives a task's panic, with its stack; nil discards it.
	Log *slog.Logger
	// Now is the clock of durations and dedupe windows; nil is time.Now.
	Now func() time.Time
}

// Request is one task request as it arrived, before anything is trusted.
type Request struct {
	// Token is the raw capability token.
	Token string
	// Body is the raw body: signatures are checked over these exact bytes.
	Body []byte
	// BodyErr, if set, is why the body could not be read (too large). It
	// is returned once the token is authenticated, so a request with a bad
	// token is refused for its token whatever its body.
	BodyErr error
	// ContentType is the body's media type as sent.
	ContentType string
	// Signature and Timestamp are the source's proof headers as sent
	// (X-Spotter-Signature; X-Slack-Signature and its timestamp; …).
	Signature, Timestamp string
	// URI is the path and query as received (Twilio signs the URL it called).
	URI string
	// IdempotencyKey is the caller's key ("" if none), already trimmed.
	IdempotencyKey string
	// RequestID names the request in replies and logs.
	RequestID string
	// Client is the peer address: it names the source of refusals made
	// before a token is known.
	Client string
}

// A Source is one way a task reaches spotter: the native or wt-spotter JSON
// body, a provider's webhook (Slack, Twilio, Mailgun, IFTTT), a page's
// form. Sources differ only in how they prove a request genuine and how
// they read it; every step after that is the pipeline's, shared by all.
type Source struct {
	Name string
	// Verify checks the request by the source's own scheme, over the raw
	// body, before anything parses what the signature covers.
	Verify func(ctx context.Context, tok capability.Token, r Request) (Proof, error)
	// Decode reads the verified body into a task.
	Decode func(body []byte, p Proof) (Task, error)
	// Reserve, when set, claims what running the task needs (a Slack job
	// slot) after every check but MFA, so that a refusal for want of it
	// does not spend the caller's one-time code. Its release gives it back.
	Reserve func() (release func(), err error)
}

// Proof is what a source's check established about one request.
type Proof struct {
	// Nonce is the X-Spotter-Signature nonce id, when the body was signed.
	Nonce string
	// Delivery is the provider's id for this delivery (a Twilio
	// MessageSid, a Mailgun token, a Slack trigger_id): it becomes the
	// idempotency key, so a redelivery can never launch twice.
	Delivery string
	// Fields are the form or JSON fields the source already parsed.
	Fields map[string]string
}

// Guarded is a request as far as the guard took it: all of it once the
// guard passed, what was known when it refused otherwise.
type Guarded struct {
	Source    string
	RequestID string
	Token     capability.Token
	Task      Task
	Req       policy.Request
	Region    string
	// Fields are the source's parsed form or JSON fields (Slack's response_url).
	Fields map[string]string
	// Verified is set once the source's own check passed: from then on the
	// caller is genuine, and sources that reply in their own format (chat,
	// SMS) show it errors there rather than as bare HTTP statuses.
	Verified bool
	// Release gives back what the source's Reserve claimed; nil if none.
	Release func()
	Client  string

	// launch is a launch task as the policy decided it, once, before MFA.
	launch                   api.Launch
	nonce, delivery, idemKey string
	body                     []byte
	start                    time.Time
}

// Guard runs the checks every task request passes, in order: token,
// revocation and expiry, the source's proof, decoding, policy, the
// source's reserve, MFA. Nothing past a failed step runs, so a hostile
// request launches nothing and learns little. A refusal is audited here.
func (p *Pipeline) Guard(ctx context.Context, r Request, src Source) (Guarded, error) {
	g, err := p.guard(ctx, r, src)
	if err != nil {
		p.refused(ctx, g, err)
	}
	return g, err
}

func (p *Pipeline) guard(ctx context.Context, r Request, src Source) (Guarded, error) {
	g := Guarded{Source: src.Name, RequestID: r.RequestID, Client: r.Client, start: p.now()}
	var err error
	if g.Token, err = p.Tokens.Authenticate(ctx, r.Token); err != nil {
		return g, err
	}
	if r.BodyErr != nil {
		return g, r.BodyErr
	}
	g.body = r.Body
	pr, err := src.Verify(ctx, g.Token, r)
	if err != nil {
		return g, err
	}
	g.Verified, g.nonce, g.delivery, g.Fields = true, pr.Nonce, pr.Delivery, pr.Fields
	g.idemKey = r.IdempotencyKey
	if g.Task, err = src.Decode(g.body, pr); err != nil {
		return g, err
	}
	return g, p.check(ctx, &g, src.Reserve)
}

// check is every step after decoding: presets, policy, the source's
// reserve, MFA.
func (p *Pipeline) check(ctx context.Context, g *Guarded, reserve func() (func(), error)) error {
	var err error
	if g.Req, err = g.Task.Request(); err != nil {
		return err
	}
	if g.Task.Preset != "" {
		if g.Req, err = g.Token.Policy.ApplyPreset(g.Task.Preset, g.Req); err != nil {
			return err
		}
	}
	if g.Region, err = g.Token.Policy.Check(g.Req); err != nil {
		return err
	}
	if g.Req.Task == api.TaskLaunch {
		// Everything the policy can decide without AWS, before MFA spends a code.
		if g.launch, err = g.Token.Policy.ResolveLaunch(g.Req, api.Usage{}); err != nil {
			return err
		}
	}
	if reserve != nil {
		if g.Release, err = reserve(); err != nil {
			return err
		}
	}
	if err := p.Tokens.CheckMFA(ctx, g.Token, g.Task.MFACode); err != nil {
		if g.Release != nil {
			g.Release()
			g.Release = nil
		}
		return err
	}
	return nil
}

// Execute runs a guarded task and writes its audit event. ctx may outlive
// the request (Slack's background launches).
func (p *Pipeline) Execute(ctx context.Context, g Guarded) (Result, error) {
	p.Refusals.tick()
	res, err := p.runSafely(ctx, g)
	p.audit(ctx, g, outcome(err), res, err)
	return res, err
}

// Run guards and, if the guard passed, executes.
func (p *Pipeline) Run(ctx context.Context, r Request, src Source) (Guarded, Result, error) {
	g, err := p.Guard(ctx, r, src)
	if err != nil {
		return g, Result{}, err
	}
	res, err := p.Execute(ctx, g)
	return g, res, err
}

// outcome names a task's result for the audit log and metrics. A rule
// that can only be checked once AWS has listed what the token runs
// (maxRunning, maxHourlySpend) still refuses the request, as the guard's
// checks do: "failed" is kept for what went wrong on spotter's or AWS's side.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	switch apperr.Code(err) {
	case apperr.PolicyDenied, apperr.Invalid, apperr.PriceTooLow,
		apperr.MFARequired, apperr.MFAInvalid, apperr.MFAReplayed, apperr.MFALocked:
		return "refused"
	}
	return "failed"
}

// runSafely is run with a panic turned into an internal error (logged with
// its stack): the task is audited as failed and its caller told, even when
// it runs in the background (Slack), where a panic would end the process.
func (p *Pipeline) runSafely(ctx context.Context, g Guarded) (res Result, err error) {
	defer safe.Recover(ctx, p.log(), "task", &err, "request_id", g.RequestID, "token_id", g.Token.ID, "task", g.Req.Task)
	return p.run(ctx, g)
}

// refused audits a request the guard stopped; a help request is no task.
func (p *Pipeline) refused(ctx context.Context, g Guarded, err error) {
	if _, ok := AsNotice(err); ok {
		return
	}
	if !p.Refusals.allow(g, err) {
		p.observe(g, "refused", Result{}) // counted, not logged one by one
		return
	}
	p.audit(ctx, g, "refused", Result{}, err)
}

// Notice is a reply that is not a task (help): sources that speak to
// people show its Text; it is not audited as a refusal.
type Notice struct{ Text string }

func (n *Notice) Error() string { return "notice: " + n.Text }

// AsNotice finds a Notice in err's chain, wrapped or not.
func AsNotice(err error) (*Notice, bool) {
	var n *Notice
	ok := errors.As(err, &n)
	return n, ok
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ledger is the Inflight ledger, or inflight's nil ledger that counts only
// what EC2 lists.
func (p *Pipeline) ledger() Ledger {
	if p.Inflight != nil {
		return p.Inflight
	}
	return (*inflight.Ledger)(nil)
}
