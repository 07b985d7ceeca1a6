package handlers

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/policy"
)

// A source is one way a task reaches spotter: the native or wt-spotter JSON
// body, or a provider's webhook (Slack, Twilio, Mailgun, IFTTT). Sources
// differ only in how they prove a request genuine and how they read it;
// every step after that is the pipeline's, shared by all.
type source struct {
	name string
	// verify checks the request by the source's own scheme, over the raw
	// body, before anything parses what the signature covers.
	verify func(ctx context.Context, c echo.Context, tok capability.Token, body []byte) (proof, error)
	// decode reads the verified body into a task.
	decode func(body []byte, p proof) (Task, error)
	// reserve, when set, claims what running the task needs (a Slack job
	// slot) after every check but MFA, so that a refusal for want of it
	// does not spend the caller's one-time code. Its release gives it back.
	reserve func() (release func(), err error)
}

// proof is what a source's check established about one request.
type proof struct {
	// nonce is the X-Spotter-Signature nonce id, when the body was signed.
	nonce string
	// delivery is the provider's id for this delivery (a Twilio
	// MessageSid, a Mailgun token, a Slack trigger_id): it becomes the
	// idempotency key, so a redelivery can never launch twice.
	delivery string
	// fields are the form or JSON fields the source already parsed.
	fields map[string]string
}

// guarded is a request that passed the guard.
type guarded struct {
	source    string
	requestID string
	tok       capability.Token
	task      Task
	req       policy.Request
	region    string
	nonce     string
	delivery  string
	// idemHeader is the caller's Idempotency-Key header.
	idemHeader string
	body       []byte
	// fields are the source's parsed form or JSON fields (Slack's response_url).
	fields map[string]string
	// verified is set once the source's own check passed: from then on the
	// caller is genuine, and sources that reply in their own format (chat,
	// SMS) show it errors there rather than as bare HTTP statuses.
	verified bool
	// release gives back what the source's reserve claimed; nil if none.
	release func()
	// client is the peer address: it names the source of refusals made
	// before a token is known.
	client string
	// launch is a launch task as the policy decided it, once, before MFA.
	launch api.Launch
}

// CtxTokenID is the echo.Context key under which a request's token id is
// kept once the token is authenticated, so the request log can tell one
// token's refusals from another's (and never needs the token itself).
const CtxTokenID = "spotter.token_id"

// guard runs the checks every task request passes, in order: token,
// revocation and expiry, the source's signature (or the body signature),
// decoding, policy, MFA. Nothing past a failed step runs, so a hostile
// request launches nothing and learns little.
func (d TaskDeps) guard(c echo.Context, raw string, src source) (guarded, error) {
	ctx := c.Request().Context()
	g := guarded{source: src.name, requestID: c.Response().Header().Get(echo.HeaderXRequestID), client: c.RealIP()}
	var err error
	if g.tok, err = d.Tokens.Authenticate(ctx, raw); err != nil {
		return g, err
	}
	c.Set(CtxTokenID, g.tok.ID)
	if g.body, err = readBody(c); err != nil {
		return g, err
	}
	p, err := src.verify(ctx, c, g.tok, g.body)
	if err != nil {
		return g, err
	}
	g.verified, g.nonce, g.delivery, g.fields = true, p.nonce, p.delivery, p.fields
	if k := strings.TrimSpace(c.Request().Header.Get("Idempotency-Key")); k != "" && !isIngredient(k) {
		g.idemHeader = k
	}
	if g.task, err = src.decode(g.body, p); err != nil {
		return g, err
	}
	return g, d.check(ctx, &g, src.reserve)
}

// check is every step after decoding: presets, policy, the source's
// reserve, MFA.
func (d TaskDeps) check(ctx context.Context, g *guarded, reserve func() (func(), error)) error {
	var err error
	if g.req, err = g.task.Request(); err != nil {
		return err
	}
	if g.task.Preset != "" {
		if g.req, err = g.tok.Policy.ApplyPreset(g.task.Preset, g.req); err != nil {
			return err
		}
	}
	if g.region, err = g.tok.Policy.Check(g.req); err != nil {
		return err
	}
	if g.req.Task == api.TaskLaunch {
		// Everything the policy can decide without AWS, before MFA spends a code.
		if g.launch, err = g.tok.Policy.ResolveLaunch(g.req, api.Usage{}); err != nil {
			return err
		}
	}
	if reserve != nil {
		if g.release, err = reserve(); err != nil {
			return err
		}
	}
	if err := d.Tokens.CheckMFA(ctx, g.tok, g.task.MFACode); err != nil {
		if g.release != nil {
			g.release()
			g.release = nil
		}
		return err
	}
	return nil
}

// execute runs a guarded task and writes its audit event. ctx may outlive
// the request (Slack's background launches): nothing here reads the
// echo.Context, which is recycled once the handler returns.
func (d TaskDeps) execute(ctx context.Context, g guarded, start time.Time) (Result, error) {
	d.Refusals.tick()
	res, err := d.runSafely(ctx, g)
	d.audit(ctx, g, outcome(err), res, err, start)
	return res, err
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
func (d TaskDeps) runSafely(ctx context.Context, g guarded) (res Result, err error) {
	defer safe.Recover(ctx, d.Sources.log(), "task", &err, "request_id", g.requestID, "token_id", g.tok.ID, "task", g.req.Task)
	return d.run(ctx, g)
}

// refused audits a request the guard stopped; a help request is no task.
func (d TaskDeps) refused(ctx context.Context, g guarded, err error, start time.Time) {
	if _, ok := asNotice(err); ok {
		return
	}
	if !d.Refusals.allow(g, err) {
		d.observe(g, "refused", Result{}) // counted, not logged one by one
		return
	}
	d.audit(ctx, g, "refused", Result{}, err, start)
}

// notice is a reply that is not a task (help): sources that speak to
// people show its text; it is not audited as a refusal.
type notice struct{ text string }

func (n *notice) Error() string { return "notice: " + n.text }

// asNotice finds a notice in err's chain, wrapped or not.
func asNotice(err error) (*notice, bool) {
	var n *notice
	ok := errors.As(err, &n)
	return n, ok
}

// nativeSource is spotter's own JSON task (or the wt-spotter body), with
// the optional X-Spotter-Signature.
func nativeSource(d TaskDeps) source {
	return source{
		name: "native",
		verify: func(ctx context.Context, c echo.Context, tok capability.Token, body []byte) (proof, error) {
			if !isJSON(c, body) {
				return proof{}, apperr.New(apperr.Unsupported, "send a JSON task (Content-Type: application/json)")
			}
			nonce, err := d.Tokens.CheckSignature(ctx, tok, c.Request().Header.Get("X-Spotter-Signature"), body)
			return proof{nonce: nonce}, err
		},
		decode: func(body []byte, _ proof) (Task, error) { return decodeTask(body) },
	}
}

// isIngredient reports an IFTTT ingredient left unreplaced ("{{OccurredAt}}"):
// a value the applet meant to fill but could not, so it means nothing.
func isIngredient(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}")
}
