package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuTime is a process's user+system CPU time so far, from /proc (Linux);
// 0 elsewhere. Sampled around a run, it says which process the launches
// spend the two cores in.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields, in clock ticks (100 per second on Linux).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// procs names the processes whose CPU a run accounts: this one (load
// generator, awssim, and in the baseline phase the baseline's clients),
// spotter, and Vault when scripts/vault-dev.sh left its pid.
type procs map[string]int

func (st *stack) procs() procs {
	p := procs{"bench+awssim": os.Getpid()}
	if st.spotter != nil && st.spotter.Process != nil {
		p["spotter"] = st.spotter.Process.Pid
	}
	if dir := os.Getenv("SPOTTER_VAULT_STATE"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				p["vault"] = pid
			}
		}
	}
	return p
}

func (p procs) sample() map[string]time.Duration {
	m := map[string]time.Duration{}
	for name, pid := range p {
		m[name] = cpuTime(pid)
	}
	return m
}

// pprofOverlay is added to package main only in the binary built for
// -spotter-cpuprofile (go build -overlay), so spotter's own code is
// measured unchanged and the repository gains no debug endpoint.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if a := os.Getenv("SPOTTER_BENCH_PPROF"); a != "" {
		go http.ListenAndServe(a, nil)
	}
}
`

func buildProfiledSpotter(ctx context.Context, dir, out string, stderr io.Writer) error {
	src := filepath.Join(dir, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	overlay := filepath.Join(dir, "overlay.json")
	js := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(wd, "zz_bench_pprof.go"), src)
	if err := os.WriteFile(overlay, []byte(js), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlay, "-o", out, ".")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build spotter with pprof (run from the repository root): %w", err)
	}
	return nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// profileSpotter fetches a CPU profile of spotter covering d.
func profileSpotter(ctx context.Context, addr string, d time.Duration, out string) error {
	secs := max(1, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
