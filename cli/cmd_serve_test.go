package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/app"
	"github.com/spotter-dev/spotter/awssim"
)

// TestServePortInUse: a start that cannot bind leaves nothing behind — no
// data dir, master key, store or certificate — and says how to pick a port.
func TestServePortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	tests := []struct {
		name string
		args []string
	}{
		{name: "HTTPS with a new data dir", args: []string{"serve", "--addr", addr}},
		{name: "sandbox with a new data dir", args: []string{"serve", "--sandbox", "--addr", addr}},
		{name: "sandbox in a temporary dir", args: []string{"serve", "--sandbox", "--addr", addr}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			// The sandbox's own temporary dir is made under TMPDIR.
			t.Setenv("TMPDIR", root)
			dataDir := filepath.Join(root, "data")
			args := tt.args
			if i < 2 {
				args = append(args, "--data-dir", dataDir)
			}
			var stdout, stderr bytes.Buffer
			err := Run(context.Background(), append([]string{"spotter"}, args...), envFunc(nil), strings.NewReader(""), &stdout, &stderr)
			if err == nil {
				t.Fatalf("serve on a taken port returned nil")
			}
			if code := ExitCode(err); code == 0 {
				t.Errorf("exit code = 0; want non-zero")
			}
			for _, want := range []string{addr, "in use", "--addr 127.0.0.1:0"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			entries, _ := os.ReadDir(root)
			if len(entries) != 0 {
				var names []string
				filepath.WalkDir(root, func(p string, _ os.DirEntry, _ error) error {
					names = append(names, p)
					return nil
				})
				t.Errorf("a failed start left files behind: %v", names)
			}
			if stdout.Len() != 0 {
				t.Errorf("a failed start printed on stdout: %q", stdout.String())
			}
		})
	}
}

// TestSandboxTemporaryMasterKey: a sandbox in a temporary dir keeps its
// master key in memory and does not ask for a backup of a key that is
// deleted on exit; a sandbox in a named data dir still writes and warns.
func TestSandboxTemporaryMasterKey(t *testing.T) {
	_, logs, stop := startServe(t, nil, "--sandbox", "--addr", "127.0.0.1:0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "back it up") {
		t.Errorf("a temporary sandbox asked to back up its master key:\n%s", logs)
	}

	dir := dataDir(t)
	_, logs, stop = startServe(t, nil, "--sandbox", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "back it up") {
		t.Errorf("a sandbox in a kept data dir did not ask to back up its new master key:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err != nil {
		t.Errorf("sandbox in a kept data dir: %v", err)
	}
}

// TestServeMasterKeyEnv: every 32-byte key works from SPOTTER_MASTER_KEY,
// including one whose first byte is a space once decoded.
func TestServeMasterKeyEnv(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	key[0] = ' '
	env := map[string]string{app.EnvMasterKey: base64.StdEncoding.EncodeToString(key)}
	_, _, stop := startServe(t, env, "--sandbox", "--addr", "127.0.0.1:0", "--data-dir", dataDir(t))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxBanner reads the sandbox's banner as a newcomer would: the
// export lines paste into a shell, the policy line matches the demo policy,
// and the commands it shows work against it.
func TestSandboxBanner(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, []string{"spotter", "serve", "--sandbox", "--addr", "127.0.0.1:0"}, envFunc(nil), strings.NewReader(""), stdout, stderr)
	}()
	t.Cleanup(func() { cancel(); <-errc })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "token list\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no banner in 20 s; stdout:\n%s\nlog:\n%s", stdout, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	banner := stdout.String()
	env := map[string]string{}
	for _, line := range strings.Split(banner, "\n") {
		if kv, ok := strings.CutPrefix(line, "  export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	base := env[cliEnvServer]
	tests := []struct {
		name string
		ok   bool
	}{
		{name: "SPOTTER_SERVER is the server", ok: strings.HasPrefix(banner, "spotter sandbox at "+base+" ")},
		{name: "the admin token is exported", ok: strings.HasPrefix(env[cliEnvAdminToken], "spa_")},
		{name: "URL is a capability URL", ok: strings.HasPrefix(env["URL"], base+"/hooks/")},
		{name: "MFA_URL is another", ok: strings.HasPrefix(env["MFA_URL"], base+"/hooks/") && env["MFA_URL"] != env["URL"]},
		{name: "MFA_SECRET is the emulator's device", ok: env["MFA_SECRET"] == awssim.DefaultMFASecret},
		{name: "the policy's limits", ok: strings.Contains(banner, "types t3.micro, t3.small, m5.large;") &&
			strings.Contains(banner, "up to 2 per launch and 4 running; TTL 1h by default, at most 4h;")},
		{name: "the MFA demo uses spotter totp", ok: strings.Contains(banner, `--mfa-code "$(go run . totp --secret "$MFA_SECRET")"`) && !strings.Contains(banner, "oathtool")},
		{name: "a temporary dir says so", ok: strings.Contains(banner, ", removed on exit)")},
		{name: "the capability page to open", ok: strings.Contains(banner, "in a browser for its capability page (instances, launch, terminate):\n  "+env["URL"]+"\n")},
		{name: "the console to open", ok: strings.Contains(banner, "The operator console (sign in with SPOTTER_ADMIN_TOKEN):\n  "+base+"/ui/\n")},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: banner:\n%s", tt.name, banner)
		}
	}

	// The page it says to open is there for a browser.
	req, _ := http.NewRequest("GET", env["URL"], nil)
	req.Header.Set("Accept", "text/html")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET the demo capability page = %v %v; want 200 text/html", resp, err)
	} else {
		resp.Body.Close()
	}

	// The console it names answers a browser with its sign-in page.
	if resp, err := http.Get(base + "/ui/signin"); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET the console's sign-in page = %v %v; want 200 text/html", resp, err)
	} else {
		resp.Body.Close()
	}

	// What the banner says to run, run here as the shell would.
	code, _, err := totpNow(env["MFA_SECRET"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cmds := [][]string{
		{"task", "status", "--url", env["URL"]},
		{"task", "status", "--url", env["MFA_URL"], "--mfa-code", code},
		{"token", "list"},
	}
	for _, args := range cmds {
		r := runCLI(t, env, "", args...)
		if r.err != nil {
			t.Errorf("spotter %s (from the banner) = %v\n%s", args[:2], r.err, r.stderr)
		}
	}
}

func TestSelfCommand(t *testing.T) {
	tests := []struct{ argv0, want string }{
		{argv0: "/tmp/go-build1234/b001/exe/spotter", want: "go run ."},
		{argv0: "./spotter", want: "./spotter"},
		{argv0: "bin/spotter", want: "bin/spotter"},
		{argv0: "spotter", want: "spotter"},
		{argv0: "/usr/local/bin/spotter", want: "spotter"},
	}
	for _, tt := range tests {
		if got := selfCommand(tt.argv0); got != tt.want {
			t.Errorf("selfCommand(%q) = %q; want %q", tt.argv0, got, tt.want)
		}
	}
}
