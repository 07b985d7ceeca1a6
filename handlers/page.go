package handlers

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/task"
)

// PageTask runs t for the capability token raw, as a capability page's view
// or form asks, through the one guard every task passes: token, revocation
// and expiry, the body signature (a browser cannot sign, so a token that
// requires one is refused as a POST without the header is), policy, MFA
// lockout; then the same execution and audit. The page package renders;
// it decides nothing a task is allowed to do.
func (d TaskDeps) PageTask(c echo.Context, raw string, t task.Task) (task.Result, error) {
	g, err := d.guard(c, raw, pageSource(d, t))
	if err != nil {
		return task.Result{}, err
	}
	return d.Pipeline.Execute(c.Request().Context(), g)
}

// pageSource is a task a page built from its form: already decoded, so
// the body (the form, which the page read) is not parsed again.
func pageSource(d TaskDeps, t task.Task) hook {
	return hook{Source: task.Source{
		Name: "page",
		Verify: func(ctx context.Context, tok capability.Token, _ task.Request) (task.Proof, error) {
			nonce, err := d.Tokens.CheckSignature(ctx, tok, "", nil)
			return task.Proof{Nonce: nonce}, err
		},
		Decode: func([]byte, task.Proof) (task.Task, error) { return t, t.Validate() },
	}}
}
