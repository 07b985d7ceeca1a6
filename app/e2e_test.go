package app_test

import (
	"net/http"
	"testing"

	"github.com/spotter-dev/spotter/cli"
	"github.com/spotter-dev/spotter/internal/e2e"
)

// The end-to-end tests run `spotter serve` as an operator does, through
// the CLI's flags and environment, and drive it over HTTP: what they test
// is the service app.New wires. Those that need replicas run the binary
// (internal/e2e); the rest run serve in-process.

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer = e2e.Log

func envFunc(env map[string]string) func(string) string { return e2e.Env(env) }

// startServe runs `spotter serve args…` in-process and returns the base URL
// it logged, the log, and a stop function that waits for it to return.
func startServe(t *testing.T, env map[string]string, args ...string) (string, *syncBuffer, func() error) {
	t.Helper()
	return e2e.StartServe(t, cli.Run, env, args...)
}

// dataDir is a fresh data dir as serve wants it: the owner's alone
// (t.TempDir's own mode follows the umask, usually 0755).
func dataDir(t *testing.T) string {
	t.Helper()
	return e2e.DataDir(t)
}

func getJSON(t *testing.T, c *http.Client, url string) (int, map[string]any) {
	t.Helper()
	code, v, _, _ := e2e.Call(t, c, "GET", url, "", "", nil)
	return code, v
}
