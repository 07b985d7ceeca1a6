package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pages"
)

// statusOf is the one table from error code to HTTP status. Codes are the
// stable "error" strings clients switch on; anything not listed is a 500.
var statusOf = map[string]int{
	apperr.Invalid:     http.StatusBadRequest,
	apperr.NotFound:    http.StatusNotFound,
	apperr.Conflict:    http.StatusConflict,
	apperr.TooLarge:    http.StatusRequestEntityTooLarge,
	apperr.Unsupported: http.StatusUnsupportedMediaType,
	apperr.Unauth:      http.StatusUnauthorized,
	apperr.Forbidden:   http.StatusForbidden,
	apperr.RateLimited: http.StatusTooManyRequests,
	apperr.Unavailable: http.StatusServiceUnavailable,
	apperr.Internal:    http.StatusInternalServerError,

	apperr.TokenInvalid:     http.StatusUnauthorized,
	apperr.TokenExpired:     http.StatusUnauthorized,
	apperr.TokenRevoked:     http.StatusUnauthorized,
	apperr.SignatureInvalid: http.StatusUnauthorized,
	apperr.SignatureExpired: http.StatusUnauthorized,
	apperr.SignatureReplay:  http.StatusConflict,
	apperr.PolicyDenied:     http.StatusForbidden,
	apperr.MFARequired:      http.StatusUnauthorized,
	apperr.MFAInvalid:       http.StatusUnauthorized,
	apperr.MFAReplayed:      http.StatusUnauthorized,
	apperr.MFALocked:        http.StatusTooManyRequests,

	apperr.PriceTooLow:         http.StatusUnprocessableEntity,
	apperr.CapacityUnavailable: http.StatusServiceUnavailable,
	apperr.AWSThrottled:        http.StatusServiceUnavailable,
	apperr.AWSAuthFailed:       http.StatusBadGateway,
	apperr.AWSUnavailable:      http.StatusBadGateway,
}

// retryAfterOf is the Retry-After sent with a code whose error names no
// wait of its own. A store that does not answer has usually found its
// leader again within 2 s (a Raft election), and every request it refused
// changed nothing, so the client may simply send it again.
var retryAfterOf = map[string]time.Duration{
	apperr.Unavailable: 2 * time.Second,
}

// echoCodes translates the errors Echo and its middleware raise themselves.
var echoCodes = map[int]string{
	http.StatusBadRequest:            apperr.Invalid,
	http.StatusUnauthorized:          apperr.Unauth,
	http.StatusForbidden:             apperr.Forbidden,
	http.StatusNotFound:              apperr.NotFound,
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: apperr.TooLarge,
	http.StatusUnsupportedMediaType:  apperr.Unsupported,
	http.StatusTooManyRequests:       apperr.RateLimited,
	http.StatusServiceUnavailable:    apperr.Unavailable,
}

// StatusOf returns the HTTP status and stable code for err.
func StatusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if code, ok := echoCodes[he.Code]; ok {
			return he.Code, code
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, apperr.Invalid
		}
		return http.StatusInternalServerError, apperr.Internal
	}
	code := apperr.Code(err)
	status, ok := statusOf[code]
	if !ok {
		return http.StatusInternalServerError, apperr.Internal
	}
	return status, code
}

// methodDetails names the methods a route answers, from the Allow header
// Echo sets on a 405 (OPTIONS, which every route answers, left out).
// A task route gets an example, since a browser's GET is the usual mistake.
func methodDetails(allow, route string) string {
	var methods []string
	for _, m := range strings.Split(allow, ",") {
		if m = strings.TrimSpace(m); m != "" && m != http.MethodOptions {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return "method not allowed on this route"
	}
	details := "use " + strings.Join(methods, " or ")
	if slices.Contains(methods, http.MethodPost) && (strings.HasPrefix(route, "/hooks/") || route == "/v1/tasks") {
		details += ", e.g. curl -X POST -H 'Content-Type: application/json' -d '{\"task\":\"status\"}' <url>"
	}
	if route == "/hooks/:token" {
		details += "; or open the URL in a browser for its page"
	}
	return details
}

// errorHandler writes err as the stable JSON error body. The cause of a 5xx is
// logged with the request id; the client sees only the code and safe details.
// bodyLimit is the limit as configured ("64K") and in bytes, for the 413.
func errorHandler(log *slog.Logger, routes routeSet, bodyLimit string, bodyLimitBytes int64) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code := StatusOf(err)
		c.Set(ctxErrorCode, code) // for the request log
		body := api.ErrorBody{Code: status, Error: code}
		wait := apperr.RetryAfter(err)
		if wait <= 0 {
			wait = retryAfterOf[code]
		}
		if wait > 0 {
			// Whole seconds, rounded up: a client that waits this long is not refused again for the same reason.
			c.Response().Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		}
		switch {
		case code == apperr.Internal:
			body.Details = "internal error; the server log has the details under this request id"
		case code == "method_not_allowed":
			body.Details = methodDetails(c.Response().Header().Get(echo.HeaderAllow), routes.of(c))
		case code == apperr.TooLarge && errors.As(err, new(*echo.HTTPError)):
			body.Details = fmt.Sprintf("the body is larger than %d bytes (%s), this server's --body-limit; send less, or raise the limit", bodyLimitBytes, bodyLimit)
		case status == http.StatusNotFound && errors.As(err, new(*echo.HTTPError)):
			body.Details = "no such route: capability URLs look like /hooks/<token> (POST a JSON task), the admin API is under /v1/; GET /openapi.json lists every route, GET /healthz answers while the server is up"
		case errors.As(err, new(*echo.HTTPError)):
			body.Details = http.StatusText(status)
		default:
			body.Details = apperr.Details(err)
		}
		if status >= 500 {
			log.ErrorContext(c.Request().Context(), "request failed",
				"request_id", requestID(c), "route", routes.of(c), "error", err.Error())
		}
		page, _ := c.Get(pages.CtxErrorPage).(pages.ErrorRenderer)
		switch {
		case c.Request().Method == http.MethodHead:
			err = c.NoContent(status)
		case page != nil && pages.WantsHTML(c.Request()):
			err = page(c, status, code, body.Details)
		default:
			err = c.JSON(status, body)
		}
		if err != nil {
			log.Error("write error reply", "request_id", requestID(c), "error", err)
		}
	}
}
