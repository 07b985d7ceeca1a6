package handlers

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/task"
)

// hook is a task source as HTTP brings it: the source, and the headers
// its proof travels in.
type hook struct {
	task.Source
	// signature and timestamp name the headers of the source's proof;
	// "" when it has none there.
	signature, timestamp string
}

// CtxTokenID is the echo.Context key under which a request's token id is
// kept once the token is authenticated, so the request log can tell one
// token's refusals from another's (and never needs the token itself).
const CtxTokenID = "spotter.token_id"

// guard turns the Echo request into a plain one and runs the pipeline's
// guard on it (which audits a refusal).
func (d TaskDeps) guard(c echo.Context, raw string, h hook) (task.Guarded, error) {
	g, err := d.Pipeline.Guard(c.Request().Context(), taskRequest(c, raw, h), h.Source)
	if g.Token.ID != "" {
		c.Set(CtxTokenID, g.Token.ID)
	}
	return g, err
}

// taskRequest is what the pipeline reads of an HTTP request.
func taskRequest(c echo.Context, raw string, h hook) task.Request {
	hd := c.Request().Header
	r := task.Request{
		Token: raw, ContentType: hd.Get(echo.HeaderContentType), URI: requestURI(c),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), Client: c.RealIP(),
	}
	r.Body, r.BodyErr = readBody(c)
	if h.signature != "" {
		r.Signature = hd.Get(h.signature)
	}
	if h.timestamp != "" {
		r.Timestamp = hd.Get(h.timestamp)
	}
	if k := strings.TrimSpace(hd.Get("Idempotency-Key")); k != "" && !isIngredient(k) {
		r.IdempotencyKey = k
	}
	return r
}

// requestURI is the path and query exactly as received.
func requestURI(c echo.Context) string {
	if uri := c.Request().RequestURI; uri != "" {
		return uri
	}
	return c.Request().URL.RequestURI()
}

// nativeSource is spotter's own JSON task (or the wt-spotter body), with
// the optional X-Spotter-Signature.
func nativeSource(d TaskDeps) hook {
	return hook{signature: "X-Spotter-Signature", Source: task.Source{
		Name: "native",
		Verify: func(ctx context.Context, tok capability.Token, r task.Request) (task.Proof, error) {
			if !jsonBody(r.ContentType, r.Body) {
				return task.Proof{}, apperr.New(apperr.Unsupported, "send a JSON task (Content-Type: application/json)")
			}
			nonce, err := d.Tokens.CheckSignature(ctx, tok, r.Signature, r.Body)
			return task.Proof{Nonce: nonce}, err
		},
		Decode: func(body []byte, _ task.Proof) (task.Task, error) { return decodeTask(body) },
	}}
}

// isIngredient reports an IFTTT ingredient left unreplaced ("{{OccurredAt}}"):
// a value the applet meant to fill but could not, so it means nothing.
func isIngredient(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}")
}
