package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// TaskDeps is what the task endpoints use.
type TaskDeps struct {
	// Pipeline guards, runs and audits every task.
	Pipeline *task.Pipeline
	// Tokens checks what the sources prove; pages authenticate with it too.
	Tokens SourceTokens
	// Sources configures the provider endpoints (/hooks/:token/<source>).
	Sources SourceConfig
	// Background runs what outlives a request (Slack tasks), for shutdown
	// to wait on; nil runs it untracked.
	Background *Background
}

// SourceTokens is what the sources ask of the capability registry
// (*capability.Registry) to prove a request genuine.
type SourceTokens interface {
	// Authenticate verifies a raw capability token (a page checks the
	// token before it renders anything).
	Authenticate(ctx context.Context, raw string) (capability.Token, error)
	// CheckSignature verifies an X-Spotter-Signature (or its absence) and
	// returns its nonce id.
	CheckSignature(ctx context.Context, t capability.Token, header string, body []byte) (string, error)
	// SourceSecret unseals a provider's secret; the caller clears it.
	SourceSecret(ctx context.Context, t capability.Token, source string) ([]byte, error)
	// Once accepts a delivery's nonce once until it lapses.
	Once(ctx context.Context, n token.Nonce) error
}

var _ SourceTokens = (*capability.Registry)(nil)

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
	g, err := d.guard(c, raw, nativeSource(d))
	if err != nil {
		return err
	}
	res, err := d.Pipeline.Execute(c.Request().Context(), g)
	if err != nil {
		return err
	}
	out := d.replyBody(g, res)
	out.Code = http.StatusOK
	return c.JSON(out.Code, out)
}
