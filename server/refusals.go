package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/internal/logthrottle"
)

const ctxErrorCode = "spotter.error_code"

// refusal is what makes two refused requests alike for the log: the same
// route and error code from the same token, or, before a token is known,
// from the same client address. It holds the token's id, never the token.
type refusal struct {
	route, code, tokenID, client string
}

// refusalOf names a refused request.
func refusalOf(c echo.Context, route string, status int) refusal {
	r := refusal{route: route}
	r.code, _ = c.Get(ctxErrorCode).(string)
	if r.code == "" {
		r.code = "status_" + strconv.Itoa(status)
	}
	if id, _ := c.Get(handlers.CtxTokenID).(string); id != "" {
		r.tokenID = id
	} else {
		r.client = c.RealIP()
	}
	return r
}

// newRefusalLog writes one line per window for each kind of refusal and
// source (the first request's own line) and, when the window ends, one
// line with the count of the lines it held back.
func newRefusalLog(log *slog.Logger, every time.Duration, now func() time.Time) *logthrottle.Limiter[refusal] {
	return &logthrottle.Limiter[refusal]{Every: every, Now: now, Emit: func(s logthrottle.Summary[refusal]) {
		attrs := []slog.Attr{slog.Int("suppressed", s.Suppressed), slog.Time("since", s.Since)}
		if s.Overflow {
			log.LogAttrs(context.Background(), slog.LevelWarn, "refused requests not logged: too many sources at once",
				append(attrs, slog.Int("sources", s.Keys))...)
			return
		}
		attrs = append(attrs, slog.String("route", s.Key.route), slog.String("error", s.Key.code))
		if s.Key.tokenID != "" {
			attrs = append(attrs, slog.String("token_id", s.Key.tokenID))
		} else {
			attrs = append(attrs, slog.String("client", s.Key.client))
		}
		log.LogAttrs(context.Background(), slog.LevelWarn, "refused requests not logged", attrs...)
	}}
}
