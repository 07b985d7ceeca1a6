package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func newTestServer(t *testing.T, ping pingFunc, extra ...func(*echo.Echo)) (*echo.Echo, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if ping == nil {
		ping = func(context.Context) error { return nil }
	}
	e := build(Deps{Logger: log, Store: ping}, Options{BodyLimit: "1K"}, func(e *echo.Echo, d Deps) {
		addRoutes(e, d)
		for _, add := range extra {
			add(e)
		}
	})
	return e, &logs
}

func do(e *echo.Echo, method, path string, body string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) api.ErrorBody {
	t.Helper()
	var b api.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return b
}

func TestHealthAndReady(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		ping       pingFunc
		wantStatus int
		wantError  string
	}{
		{name: "healthz", path: "/healthz", wantStatus: 200},
		{name: "readyz up", path: "/readyz", wantStatus: 200},
		{name: "readyz store down", path: "/readyz", ping: func(context.Context) error { return errors.New("dial tcp: refused") }, wantStatus: 503, wantError: apperr.Unavailable},
		{name: "healthz ignores store", path: "/healthz", ping: func(context.Context) error { return errors.New("down") }, wantStatus: 200},
		{name: "unknown route", path: "/nope", wantStatus: 404, wantError: apperr.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newTestServer(t, tt.ping)
			rec := do(e, http.MethodGet, tt.path, "", nil)
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d; want %d (body %s)", tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantError != "" {
				b := decodeError(t, rec)
				if b.Error != tt.wantError || b.Code != tt.wantStatus || b.Details == "" {
					t.Errorf("error body = %+v; want error %q, code %d, details set", b, tt.wantError, tt.wantStatus)
				}
				if strings.Contains(rec.Body.String(), "refused") {
					t.Errorf("reply leaks the cause: %s", rec.Body)
				}
			}
			if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy = %q; want no-referrer", got)
			}
			if rec.Header().Get(echo.HeaderXRequestID) == "" {
				t.Error("no X-Request-Id on the reply")
			}
			if !strings.Contains(logs.String(), `"msg":"request"`) {
				t.Errorf("no request log line: %s", logs)
			}
		})
	}
}

func TestTokenInPathNeverLogged(t *testing.T) {
	const secret = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LWNhcGFiaWxpdHk.SIGNATURE-must-not-leak"
	// A route with the token in its path, as /hooks/:token will be, plus 404 and
	// 405 paths: none may put the raw path in the log.
	e, logs := newTestServer(t, nil, func(e *echo.Echo) {
		e.POST("/hooks/:token", func(c echo.Context) error {
			return apperr.New(apperr.TokenInvalid, "capability token not accepted")
		})
	})
	paths := []struct {
		method, path string
	}{
		{http.MethodPost, "/hooks/" + secret},
		{http.MethodGet, "/hooks/" + secret},
		{http.MethodPost, "/nothing/" + secret},
		{http.MethodPost, "/hooks/" + secret + "/slack?x=" + secret},
	}
	for _, p := range paths {
		rec := do(e, p.method, p.path, `{"a":1}`, nil)
		if rec.Code < 400 {
			t.Errorf("%s %s = %d; want an error", p.method, p.path, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "SIGNATURE") {
			t.Errorf("reply echoes the token: %s", rec.Body)
		}
	}
	if strings.Contains(logs.String(), "SIGNATURE") || strings.Contains(logs.String(), "c2VjcmV0") {
		t.Fatalf("token reached the log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"route":"/hooks/:token"`) {
		t.Errorf("the route pattern was not logged:\n%s", logs)
	}
	// The last two are alike (unmatched, 404, one client): the refusal log
	// holds the second back until its interval ends.
	if n := strings.Count(logs.String(), `"msg":"request"`); n != len(paths)-1 {
		t.Errorf("request log lines = %d; want %d:\n%s", n, len(paths)-1, logs)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantDetail string
		wantRetry  string // the Retry-After header
	}{
		{name: "typed 4xx", err: apperr.New(apperr.PolicyDenied, "instance type p5.48xlarge is not allowed"), wantStatus: 403, wantCode: apperr.PolicyDenied, wantDetail: "instance type p5.48xlarge is not allowed"},
		{name: "store unavailable: retry in 2 s", err: apperr.New(apperr.Unavailable, "vault sealed"), wantStatus: 503, wantCode: apperr.Unavailable, wantDetail: "vault sealed", wantRetry: "2"},
		{name: "store unavailable: its own wait wins", err: &apperr.Error{Code: apperr.Unavailable, Details: "busy", RetryAfter: time.Second}, wantStatus: 503, wantCode: apperr.Unavailable, wantDetail: "busy", wantRetry: "1"},
		{name: "wrapped store error keeps its Retry-After", err: fmt.Errorf("get token: %w", &apperr.Error{Code: apperr.Unavailable}), wantStatus: 503, wantCode: apperr.Unavailable, wantRetry: "2"},
		{name: "aws throttled after spot's retries: 503 with its wait", err: &apperr.Error{Code: apperr.AWSThrottled, Details: "AWS throttled EC2 CreateFleet", RetryAfter: 5 * time.Second}, wantStatus: 503, wantCode: apperr.AWSThrottled, wantDetail: "AWS throttled EC2 CreateFleet", wantRetry: "5"},
		{name: "other 503s name no wait", err: apperr.New(apperr.CapacityUnavailable, "no pool"), wantStatus: 503, wantCode: apperr.CapacityUnavailable, wantDetail: "no pool"},
		{name: "unknown error hides its text", err: errors.New("secretAccessKey=abc123 exploded"), wantStatus: 500, wantCode: apperr.Internal, wantDetail: "internal error; the server log has the details under this request id"},
		{name: "unknown apperr code", err: apperr.New("made_up", "x"), wantStatus: 500, wantCode: apperr.Internal},
		{name: "echo 404", err: echo.ErrNotFound, wantStatus: 404, wantCode: apperr.NotFound},
		{name: "echo 413", err: echo.ErrStatusRequestEntityTooLarge, wantStatus: 413, wantCode: apperr.TooLarge},
		{name: "mfa locked", err: &apperr.Error{Code: apperr.MFALocked, Details: "wait", RetryAfter: 59*time.Second + time.Millisecond}, wantStatus: 429, wantCode: apperr.MFALocked, wantDetail: "wait", wantRetry: "60"},
		{name: "no wait, no Retry-After", err: apperr.New(apperr.MFAInvalid, "wrong"), wantStatus: 401, wantCode: apperr.MFAInvalid},
		{name: "price too low is the client's to change", err: apperr.New(apperr.PriceTooLow, "every pool's spot price is over maxPrice $0.001"), wantStatus: 422, wantCode: apperr.PriceTooLow, wantDetail: "every pool's spot price is over maxPrice $0.001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, logs := newTestServer(t, nil, func(e *echo.Echo) {
				e.GET("/boom", func(echo.Context) error { return tt.err })
			})
			rec := do(e, http.MethodGet, "/boom", "", nil)
			b := decodeError(t, rec)
			if rec.Code != tt.wantStatus || b.Code != tt.wantStatus || b.Error != tt.wantCode {
				t.Fatalf("GET /boom = %d %+v; want %d %q", rec.Code, b, tt.wantStatus, tt.wantCode)
			}
			if tt.wantDetail != "" && b.Details != tt.wantDetail {
				t.Errorf("details = %q; want %q", b.Details, tt.wantDetail)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q; want %q", got, tt.wantRetry)
			}
			if strings.Contains(rec.Body.String(), "abc123") {
				t.Errorf("reply leaks an internal error: %s", rec.Body)
			}
			if tt.wantCode == apperr.Internal && !strings.Contains(logs.String(), rec.Header().Get(echo.HeaderXRequestID)) {
				t.Errorf("internal error not logged with its request id:\n%s", logs)
			}
		})
	}
}

// TestActionableEdgeErrors covers the errors Echo raises before a handler
// runs: each reply says what to do, not just the status text.
func TestActionableEdgeErrors(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		wantStatus  int
		wantCode    string
		wantDetails []string
		wantAllow   string
	}{
		{name: "body exactly at the limit is read", method: http.MethodPost, path: "/echo", body: strings.Repeat("x", 1000), wantStatus: 204},
		{name: "body one byte over the limit", method: http.MethodPost, path: "/echo", body: strings.Repeat("x", 1001), wantStatus: 413, wantCode: apperr.TooLarge,
			wantDetails: []string{"larger than 1000 bytes (1K)", "--body-limit"}},
		{name: "GET on a capability URL", method: http.MethodGet, path: "/hooks/tok", wantStatus: 405, wantCode: "method_not_allowed",
			wantDetails: []string{"use POST", "curl -X POST", "open the URL in a browser for its page"}, wantAllow: "POST"},
		{name: "PUT on an admin route names its methods", method: http.MethodPut, path: "/v1/tokens/tok_1", wantStatus: 405, wantCode: "method_not_allowed",
			wantDetails: []string{"use DELETE or GET"}, wantAllow: "GET"},
		{name: "unknown route gets a map", method: http.MethodGet, path: "/hook/tok", wantStatus: 404, wantCode: apperr.NotFound,
			wantDetails: []string{"/hooks/<token>", "GET /openapi.json", "GET /healthz"}},
	}
	e, _ := newTestServer(t, nil, func(e *echo.Echo) {
		e.POST("/echo", func(c echo.Context) error {
			if _, err := io.ReadAll(c.Request().Body); err != nil {
				return err
			}
			return c.NoContent(http.StatusNoContent)
		})
		e.POST("/hooks/:token", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
		e.GET("/v1/tokens/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
		e.DELETE("/v1/tokens/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(e, tt.method, tt.path, tt.body, map[string]string{"Content-Type": "application/json"})
			if rec.Code != tt.wantStatus {
				t.Fatalf("%s %s = %d %s; want %d", tt.method, tt.path, rec.Code, rec.Body, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			if strings.Contains(rec.Body.String(), `\u003c`) {
				t.Errorf("%s %s details are HTML-escaped for a terminal: %s", tt.method, tt.path, rec.Body)
			}
			b := decodeError(t, rec)
			if b.Error != tt.wantCode {
				t.Errorf("%s %s error = %q; want %q", tt.method, tt.path, b.Error, tt.wantCode)
			}
			for _, w := range tt.wantDetails {
				if !strings.Contains(b.Details, w) {
					t.Errorf("%s %s details = %q; want it to say %q", tt.method, tt.path, b.Details, w)
				}
			}
			if tt.wantAllow != "" && !strings.Contains(rec.Header().Get(echo.HeaderAllow), tt.wantAllow) {
				t.Errorf("%s %s Allow = %q; want %s in it", tt.method, tt.path, rec.Header().Get(echo.HeaderAllow), tt.wantAllow)
			}
		})
	}
}

func TestParseBodyLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "64K", want: 64000},
		{in: "64KiB", want: 65536},
		{in: "1M", want: 1000000},
		{in: "512", want: 512},
		{in: "64Q", wantErr: true},
		{in: "0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseBodyLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseBodyLimit(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestBodyLimitAndPanic(t *testing.T) {
	called := false
	e, logs := newTestServer(t, nil, func(e *echo.Echo) {
		e.POST("/echo", func(c echo.Context) error {
			called = true
			var v any
			return c.Bind(&v)
		})
		e.GET("/panic", func(echo.Context) error { panic("kaboom") })
	})

	rec := do(e, http.MethodPost, "/echo", strings.Repeat("x", 2048), map[string]string{"Content-Type": "application/json"})
	if rec.Code != http.StatusRequestEntityTooLarge || decodeError(t, rec).Error != apperr.TooLarge {
		t.Errorf("2 KiB body over a 1K limit = %d %s; want 413 %s", rec.Code, rec.Body, apperr.TooLarge)
	}
	if called {
		t.Error("handler ran for an oversized body")
	}
	rec = do(e, http.MethodGet, "/panic", "", nil)
	if rec.Code != 500 || decodeError(t, rec).Error != apperr.Internal {
		t.Errorf("panicking handler = %d %s; want 500 internal_error", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "kaboom") {
		t.Errorf("panic value leaked to the client: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("panic not logged")
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{name: "none given", incoming: "", keep: false},
		{name: "plain id kept", incoming: "ci-run-42.7", keep: true},
		{name: "log injection replaced", incoming: "x\" injected=\"1", keep: false},
		{name: "too long replaced", incoming: strings.Repeat("a", 65), keep: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestServer(t, nil)
			rec := do(e, http.MethodGet, "/healthz", "", map[string]string{echo.HeaderXRequestID: tt.incoming})
			got := rec.Header().Get(echo.HeaderXRequestID)
			if (got == tt.incoming) != tt.keep || !validRequestID.MatchString(got) {
				t.Errorf("request id for %q = %q; keep=%v", tt.incoming, got, tt.keep)
			}
		})
	}
}
