// Package e2e runs the real spotter binary as separate `spotter serve`
// processes, for the tests that need replicas which share nothing but the
// store: each has its own port, data dir and log, and can be stopped the
// way an orchestrator does (SIGTERM, then SIGKILL) or killed outright.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the spotter binary into dir and returns its path. Run it
// from inside the module (a test's working directory is).
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "spotter")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/spotter-dev/spotter")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build spotter: %w\n%s", err, out)
	}
	return bin, nil
}

// Log is a process's output, safe to read while it writes.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// DataDir is a fresh data dir as serve wants it: the owner's alone
// (t.TempDir's own mode follows the umask, usually 0755, and serve refuses
// a data dir that group or others can enter).
func DataDir(tb testing.TB) string {
	tb.Helper()
	d := tb.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		tb.Fatal(err)
	}
	return d
}

// Replica is one `spotter serve` process.
type Replica struct {
	Name    string
	URL     string // https://127.0.0.1:<port>
	DataDir string // 0700, removed with the test
	// Client trusts the self-signed certificate this replica made.
	Client *http.Client
	Log    *Log

	cmd    *exec.Cmd
	exited chan struct{}
}

// Grace is how long Stop waits after SIGTERM before SIGKILL.
const Grace = 10 * time.Second

var listening = regexp.MustCompile(`"msg":"spotter listening","url":"([^"]+)"`)

// Start runs `bin serve --addr 127.0.0.1:0 --data-dir <fresh dir> args…`
// with env alone (plus PATH: nothing of the test's own environment leaks
// in), waits until it answers /readyz, and stops it when the test ends.
func Start(tb testing.TB, bin, name string, env map[string]string, args ...string) *Replica {
	tb.Helper()
	dir := DataDir(tb)
	r := &Replica{Name: name, DataDir: dir, Log: &Log{}, exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, args...)...)
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.Log, r.Log
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	tb.Cleanup(func() {
		r.Stop(tb)
		if tb.Failed() {
			tb.Logf("log of %s:\n%s", name, tail(r.Log.String(), 6000))
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for r.URL == "" {
		if m := listening.FindStringSubmatch(r.Log.String()); m != nil {
			r.URL = m[1]
			break
		}
		select {
		case <-r.exited:
			tb.Fatalf("%s exited before listening:\n%s", name, r.Log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not listen within 30 s:\n%s", name, r.Log)
		}
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls-cert.pem"))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	r.Client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64,
	}}
	r.waitReady(tb, deadline)
	return r
}

func (r *Replica) waitReady(tb testing.TB, deadline time.Time) {
	tb.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/readyz", nil)
		resp, err := r.Client.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready within 30 s (last: %v):\n%s", r.Name, err, r.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the process as an orchestrator does: SIGTERM, and SIGKILL if it
// has not exited within Grace. Stopping a stopped replica does nothing.
func (r *Replica) Stop(tb testing.TB) {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(Grace):
		tb.Logf("%s did not exit %v after SIGTERM; killing it", r.Name, Grace)
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// Kill9 kills the process at once (SIGKILL), as a crash or an OOM kill
// would: nothing it held is released, nothing it was doing completes.
func (r *Replica) Kill9(tb testing.TB) {
	tb.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill -9 %s: %v", r.Name, err)
	}
	<-r.exited
}

// Exited reports whether the process has ended.
func (r *Replica) Exited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Mentions reports which replicas' logs contain s (for canaries: a secret
// must be in none).
func Mentions(rs []*Replica, s string) []string {
	var names []string
	for _, r := range rs {
		if strings.Contains(r.Log.String(), s) {
			names = append(names, r.Name)
		}
	}
	return names
}
