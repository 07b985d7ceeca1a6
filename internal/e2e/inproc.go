package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunFunc is cli.Run's shape. The in-process helpers take it rather than
// import package cli, so that cli's own tests can use them too.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error

// Env is a getenv that reads env alone: nothing of the test's own
// environment leaks in.
func Env(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// StartServe runs `spotter serve args…` in-process through run and returns
// the base URL it logged, its log, and a stop function that cancels it and
// returns run's error (also called when the test ends).
func StartServe(tb testing.TB, run RunFunc, env map[string]string, args ...string) (string, *Log, func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &Log{}, &Log{}
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"spotter", "serve"}, args...), Env(env), strings.NewReader(""), stdout, stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			var once sync.Once
			var runErr error
			stop := func() error {
				once.Do(func() { cancel(); runErr = <-errc })
				return runErr
			}
			tb.Cleanup(func() { _ = stop() })
			return m[1], stderr, stop
		}
		select {
		case err := <-errc:
			cancel()
			tb.Fatalf("serve exited early: %v\nlog:\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	tb.Fatalf("serve did not start in 20 s; log:\n%s", stderr)
	return "", nil, nil
}

// Call sends body (with a bearer token and content type when not empty)
// and returns the status, the JSON reply decoded and raw, and its header.
func Call(tb testing.TB, c *http.Client, method, url, auth, ctype string, body []byte) (int, map[string]any, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("%s %s: body %q is not JSON", method, url, raw)
	}
	return resp.StatusCode, v, string(raw), resp.Header
}
