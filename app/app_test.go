package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/internal/testclock"
)

const testAdminToken = "test-admin-token-0123456789abcdef"

// sandboxConfig is a valid sandbox Config on a free loopback port with
// its data in dir ("" for the sandbox's own temporary dir).
func sandboxConfig(dir string) Config {
	return Config{
		Addr: "127.0.0.1:0", Sandbox: true, DataDir: dir, AdminToken: testAdminToken,
		LogFormat: "json", LogLevel: "info", BodyLimit: "64K", Region: "us-east-1", VaultMount: "spotter",
		Timeouts: DefaultTimeouts(), Self: "spotter", Version: "test",
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// goroutines is every goroutine's stack.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestCloseJoinsGoroutines: Close returns only once every goroutine New
// started has ended (not merely been told to), so nothing it closes next
// (the store, the emulator) is still in use.
func TestCloseJoinsGoroutines(t *testing.T) {
	cfg := sandboxConfig("")
	cfg.Timeouts.ReaperInterval = time.Hour // a pass at start, then none
	a, err := New(t.Context(), cfg, discardLog(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The reaper starts through a wrapper goroutine, so on a loaded machine
	// its Run frame may appear a moment after New returns.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(goroutines(), "reaper.(*Reaper).Run"); {
		if time.Now().After(deadline) {
			t.Fatal("no reaper goroutine 10 s after New; the test below would prove nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A goroutine that takes a while to end once told: Close must wait.
	var ended atomic.Bool
	a.goBackground(a.bg, func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		ended.Store(true)
	})
	tmp := a.cfg.DataDir
	if err := a.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if !ended.Load() {
		t.Error("Close returned before a goroutine it started had ended")
	}
	for _, f := range []string{"reaper.(*Reaper).Run", "app.startSandboxAWS", "app.(*App).goBackground"} {
		if s := goroutines(); strings.Contains(s, f) {
			t.Errorf("%s still runs after Close:\n%s", f, s)
		}
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sandbox's temporary data dir %s outlived Close: %v", tmp, err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("a second Close = %v; want nil", err)
	}
}

// TestNewFailureLeavesNothing: a New that fails, before it listens or
// after, leaves the port free and no App behind.
func TestNewFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "timeouts out of order", wantErr: "must end before the request timeout",
			edit: func(t *testing.T, c *Config) { c.Timeouts.LaunchWait = c.Timeouts.Request }},
		{name: "a data dir others can read", wantErr: "chmod 700", edit: func(t *testing.T, c *Config) {
			c.DataDir = filepath.Join(t.TempDir(), "open")
			if err := os.Mkdir(c.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(c.DataDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			cfg := sandboxConfig("")
			cfg.Addr = addr
			tt.edit(t, &cfg)
			a, err := New(t.Context(), cfg, discardLog(), io.Discard)
			if a != nil || err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, %v; want no App and an error containing %q", a, err, tt.wantErr)
			}
			again, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the failed New still holds %s: %v", addr, err)
			}
			again.Close()
		})
	}
}

// TestOneClock: the Config's clock is the one the services read — a
// token created with expiresIn expires that long after the clock's time,
// an instance's TTL on the capability page is counted on it, and the
// sandbox's emulator keeps the same time.
func TestOneClock(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	clk := testclock.New(at)
	cfg := sandboxConfig(e2e.DataDir(t))
	cfg.Now = clk.Now
	a, err := New(t.Context(), cfg, discardLog(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, stop := context.WithCancel(t.Context())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(addr net.Addr) { ready <- addr }) }()
	base := "http://" + (<-ready).String()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	policy := `{"regions":["us-east-1"],"instanceTypes":["t3.micro"],"amis":["ami-0123456789abcdef0"],"maxCount":1,"maxTTL":"2h","tasks":["launch","status"]}`
	code, created := post(t, base+"/v1/tokens", testAdminToken, `{"name":"clock","credentials":{"accessKeyId":"`+awssim.DefaultAccessKeyID+
		`","secretAccessKey":"`+awssim.DefaultSecretAccessKey+`"},"policy":`+policy+`,"expiresIn":"1h"}`)
	if code != 201 {
		t.Fatalf("create token = %d %v", code, created)
	}
	if got, want := created["expiresAt"], at.Add(time.Hour).Format(time.RFC3339); got != want {
		t.Errorf("expiresAt = %v; want %s, an hour after the Config's clock", got, want)
	}
	url := created["url"].(string)
	if code, v := post(t, url, "", `{"task":"launch","ttl":"30m"}`); code != 200 {
		t.Fatalf("launch = %d %v", code, v)
	}
	// The page counts the instance's time left on the same clock: exactly
	// the TTL, as no time has passed.
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), ">30m 00s</dd>") {
		t.Errorf("the capability page does not show 30m 00s left on the launched instance:\n%s", page)
	}
	if got := a.sandbox.sim.Now(); !got.Equal(at) {
		t.Errorf("the sandbox emulator's clock reads %s; want the Config's %s", got, at)
	}
}

// post sends a JSON body, with a bearer token when auth is set, and
// returns the status and the decoded reply.
func post(t *testing.T, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("POST %s: reply is not JSON: %v", url, err)
	}
	return resp.StatusCode, v
}
