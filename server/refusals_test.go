package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/internal/logthrottle"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/metrics"
)

// floodServer serves /hooks/:token the way the task routes refuse: the
// token "good" is authenticated (its id kept for the log) and then denied
// by policy; any other token is not accepted.
func floodServer(tb testing.TB, logs *bytes.Buffer, now func() time.Time) *echo.Echo {
	tb.Helper()
	m := metrics.New()
	log := slog.New(slog.NewJSONHandler(logs, nil))
	e := build(Deps{Logger: log, Store: pingFunc(func(context.Context) error { return nil }), Metrics: m},
		Options{BodyLimit: "1K", Now: now}, func(e *echo.Echo, d Deps) {
			addRoutes(e, d)
			e.POST("/hooks/:token", func(c echo.Context) error {
				if c.Param("token") == "good" {
					c.Set(handlers.CtxTokenID, "tok-id-1")
					return apperr.New(apperr.PolicyDenied, "rule maxCount: 9 instances asked, at most 1 per request")
				}
				return apperr.New(apperr.TokenInvalid, "capability token not accepted")
			})
		})
	return e
}

// requestCount reads spotter_http_requests_total for POST /hooks/:token
// with status from /metrics, as Prometheus would.
func requestCount(t *testing.T, e *echo.Echo, status string) float64 {
	t.Helper()
	rec := do(e, http.MethodGet, "/metrics", "", nil)
	prefix := `spotter_http_requests_total{method="POST",route="/hooks/:token",status="` + status + `"} `
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func post(e *echo.Echo, path, client string) int {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"task":"launch"}`))
	req.RemoteAddr = client + ":40000"
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Code
}

// A flood of N refusals of one kind from one token (or, unauthenticated,
// one client) writes one request line per interval and then one line with
// the count; the metrics count all N; the token itself is never logged.
func TestRefusalFloodIsLoggedOncePerInterval(t *testing.T) {
	const n = 5000
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	var logs bytes.Buffer
	e := floodServer(t, &logs, clk.Now)
	secret := "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.SIGNATURE"
	for i := range n {
		if code := post(e, "/hooks/good", "198.51.100.7"); code != http.StatusForbidden {
			t.Fatalf("good token: %d", code)
		}
		// Every guess a different token, all from one address.
		if code := post(e, fmt.Sprintf("/hooks/%s%d", secret, i), "203.0.113.9"); code != http.StatusUnauthorized {
			t.Fatalf("bad token: %d", code)
		}
	}
	if got := strings.Count(logs.String(), `"msg":"request"`); got != 2 {
		t.Fatalf("request lines in the first interval = %d; want 2 (one per kind and source)", got)
	}
	clk.Add(time.Minute - time.Nanosecond)
	post(e, "/hooks/good", "198.51.100.7")
	if strings.Contains(logs.String(), "not logged") {
		t.Fatalf("a count was written before the interval ended:\n%s", logs.String())
	}
	clk.Add(time.Nanosecond)
	if code := do(e, http.MethodGet, "/healthz", "", nil).Code; code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	out := logs.String()
	for _, want := range []string{
		`"msg":"refused requests not logged","suppressed":5000,"since":"2026-11-30T12:00:00Z","route":"/hooks/:token","error":"policy_denied","token_id":"tok-id-1"`,
		`"msg":"refused requests not logged","suppressed":4999,"since":"2026-11-30T12:00:00Z","route":"/hooks/:token","error":"token_invalid","client":"203.0.113.9"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if lines := strings.Count(out, "\n"); lines > 6 {
		t.Errorf("%d log lines for %d refusals; want at most 6:\n%s", lines, 2*n+1, out)
	}
	if strings.Contains(out, "SIGNATURE") || strings.Contains(out, "c2VjcmV0") {
		t.Fatal("a token reached the log")
	}
	for status, want := range map[string]float64{"403": n + 1, "401": n} {
		if got := requestCount(t, e, status); got != want {
			t.Errorf("spotter_http_requests_total{status=%s} = %v; want %v", status, got, want)
		}
	}
}

// Refusals from more distinct sources than the log tracks are counted
// together: the log stays bounded however many addresses flood it.
func TestRefusalFloodFromManyClients(t *testing.T) {
	const n = 3000
	var logs bytes.Buffer
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clk := testclock.New(t0)
	e := floodServer(t, &logs, clk.Now)
	for i := range n {
		post(e, "/hooks/bad", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	clk.Add(time.Minute)
	do(e, http.MethodGet, "/healthz", "", nil)
	out := logs.String()
	tracked := logthrottle.DefaultMax
	// The tracked sources' first refusals, and the healthz.
	if got := strings.Count(out, `"msg":"request","request_id"`); got != tracked+1 {
		t.Errorf("request lines = %d; want %d", got, tracked+1)
	}
	want := fmt.Sprintf(`"msg":"refused requests not logged: too many sources at once","suppressed":%d,"since":"2026-11-30T12:00:00Z","sources":%d`, n-tracked, tracked)
	if !strings.Contains(out, want) {
		t.Errorf("log lacks %s", want)
	}
	if got := requestCount(t, e, "401"); got != n {
		t.Errorf("spotter_http_requests_total{status=401} = %v; want %d", got, n)
	}
}

// BenchmarkRefusedRequestLog reports the log bytes each refused request
// costs under a one-source flood (logB/op): it falls towards zero as the
// flood grows, where it was a ~470-byte line per request.
func BenchmarkRefusedRequestLog(b *testing.B) {
	var logs bytes.Buffer
	e := floodServer(b, &logs, nil)
	b.ReportAllocs()
	for b.Loop() {
		post(e, "/hooks/bad", "203.0.113.9")
	}
	b.ReportMetric(float64(logs.Len())/float64(b.N), "logB/op")
}
