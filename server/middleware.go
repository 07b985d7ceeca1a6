package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/logthrottle"
	"github.com/spotter-dev/spotter/metrics"
)

const ctxRequestID = "spotter.request_id"

// A client may bring its own request id to correlate logs, but it is logged
// and echoed, so only a short plain token is accepted; anything else is replaced.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// withRequestID assigns every request an id, reply header included.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID.MatchString(id) {
			id = newRequestID()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// hsts tells browsers to reach this host only over HTTPS for two years
// (past the one year HSTS preload lists ask for), so a capability URL typed
// or clicked as http:// is never sent in the clear. It is sent on HTTPS
// replies only: RFC 6797 §7.2 says a plain-HTTP reply must not carry it, and
// the sandbox's plain HTTP on loopback must not pin localhost to HTTPS.
const hsts = "max-age=63072000"

// securityHeaders: the capability URL is a credential, so no page may leak it
// through Referer, and nothing here should be cached or sniffed.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		return next(c)
	}
}

// routeSet holds the registered route patterns. It is filled once, after
// the routes are added and before the server takes requests.
type routeSet map[string]bool

// of returns the matched route pattern ("/hooks/:token"), never the raw path:
// capability tokens travel in paths and must not reach the log. Echo sets
// c.Path() from its routing tree; checking it against the registered patterns
// makes sure nothing taken from the request can slip through.
func (rs routeSet) of(c echo.Context) string {
	if p := c.Path(); rs[p] {
		return p
	}
	return "unmatched"
}

// logRequests writes one line per request: id, method, route pattern, status,
// latency. It handles the error first so the status logged is the one sent.
// Refusals (4xx) go through refusals: a flood of like ones writes a line and
// a count per interval, while the metrics count every request.
func logRequests(log *slog.Logger, routes routeSet, m *metrics.Metrics, refusals *logthrottle.Limiter[refusal]) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			route := routes.of(c)
			if m != nil {
				m.ObserveRequest(route, c.Request().Method, status, time.Since(start))
			}
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelError
			case status >= 400:
				if !refusals.Allow(refusalOf(c, route, status)) {
					return nil
				}
			default:
				refusals.Tick()
			}
			attrs := []slog.Attr{
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Request().Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("latency", time.Since(start)),
				slog.Int64("bytes", c.Response().Size),
			}
			if code, _ := c.Get(ctxErrorCode).(string); code != "" {
				attrs = append(attrs, slog.String("error", code))
			}
			log.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		}
	}
}

// recoverPanics turns a handler panic into a 500 and a logged stack, so one
// bad request cannot take the process down.
func recoverPanics(log *slog.Logger, routes routeSet) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("handler panicked", "request_id", requestID(c), "route", routes.of(c),
						"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					err = apperr.Wrap(fmt.Errorf("panic: %v", r), apperr.Internal, "")
				}
			}()
			return next(c)
		}
	}
}
