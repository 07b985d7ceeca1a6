package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/capability"
)

// PageTask runs t for the capability token raw, as a capability page's view
// or form asks, through the one guard every task passes: token, revocation
// and expiry, the body signature (a browser cannot sign, so a token that
// requires one is refused as a POST without the header is), policy, MFA
// lockout; then the same execution and audit. The page package renders;
// it decides nothing a task is allowed to do.
func (d TaskDeps) PageTask(c echo.Context, raw string, t Task) (Result, error) {
	start := time.Now()
	ctx := c.Request().Context()
	g, err := d.guard(c, raw, pageSource(d, t))
	if err != nil {
		d.refused(ctx, g, err, start)
		return Result{}, err
	}
	return d.execute(ctx, g, start)
}

// pageSource is a task a page built from its form: already decoded, so
// the body (the form, which the page read) is not parsed again.
func pageSource(d TaskDeps, t Task) source {
	return source{
		name: "page",
		verify: func(ctx context.Context, c echo.Context, tok capability.Token, _ []byte) (proof, error) {
			nonce, err := d.Tokens.CheckSignature(ctx, tok, "", nil)
			return proof{nonce: nonce}, err
		},
		decode: func([]byte, proof) (Task, error) { return t, t.validate() },
	}
}
