package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/awssim"
)

// cluster is the three-node Vault Raft cluster `scripts/vault-dev.sh
// cluster` started, read from the state dir it names.
type cluster struct {
	nodes []string
	state string
	token string
	ca    string
	key   string
}

func openCluster(getenv func(string) string) (*cluster, error) {
	nodes, state := getenv("SPOTTER_VAULT_NODES"), getenv("SPOTTER_VAULT_CLUSTER_STATE")
	if nodes == "" || state == "" {
		return nil, fmt.Errorf(`SPOTTER_VAULT_NODES and SPOTTER_VAULT_CLUSTER_STATE are not set: run scripts/bench.sh chaos, or eval "$(scripts/vault-dev.sh cluster)" first`)
	}
	c := &cluster{nodes: strings.Split(nodes, ","), state: state, ca: filepath.Join(state, "ca.pem")}
	for _, n := range c.nodes {
		if !strings.HasPrefix(n, "https://127.0.0.1:") {
			return nil, fmt.Errorf("vault node %s is not on loopback; the chaos bench kills nodes", n)
		}
	}
	for name, dst := range map[string]*string{"root-token": &c.token, "unseal-key": &c.key} {
		b, err := os.ReadFile(filepath.Join(state, name))
		if err != nil {
			return nil, fmt.Errorf("vault cluster state: %w", err)
		}
		*dst = strings.TrimSpace(string(b))
	}
	return c, nil
}

// client is a root client of node i that sees what that node answers: no
// retries, no redirects.
func (c *cluster) client(i int) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = c.nodes[i]
	cfg.MaxRetries = 0
	cfg.Timeout = 3 * time.Second
	cfg.DisableRedirects = true
	if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: c.ca}); err != nil {
		return nil, err
	}
	cl, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	cl.SetToken(c.token)
	return cl, nil
}

// health is node i's state: active, standby, sealed or down.
func (c *cluster) health(i int) string {
	cl, err := c.client(i)
	if err != nil {
		return "down"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := cl.Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
		return "down"
	case h.Sealed:
		return "sealed"
	case h.Standby:
		return "standby"
	}
	return "active"
}

// leader polls until one node is active (or the deadline) and returns it.
func (c *cluster) leader(ctx context.Context, not int, timeout time.Duration) (int, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		for i := range c.nodes {
			if i != not && c.health(i) == "active" {
				return i, nil
			}
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return -1, fmt.Errorf("no Vault leader within %v", timeout)
}

func (c *cluster) pid(i int) (int, error) {
	b, err := os.ReadFile(filepath.Join(c.state, fmt.Sprintf("node%d", i+1), "pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// kill ends node i with SIGKILL, as a crash would.
func (c *cluster) kill(i int) error {
	pid, err := c.pid(i)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// restart starts node i again from its config and unseals it, as
// internal/vaulttest does; the process outlives the bench (cluster-stop
// ends it through its pid file).
func (c *cluster) restart(ctx context.Context, i int) error {
	bin := os.Getenv("SPOTTER_VAULT_BIN")
	if bin == "" {
		out, err := exec.CommandContext(ctx, "scripts/vault-dev.sh", "bin").Output()
		if err != nil {
			return fmt.Errorf("vault binary: scripts/vault-dev.sh bin: %w", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(c.state, fmt.Sprintf("node%d", i+1))
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "-config="+filepath.Join(dir, "vault.hcl"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return err
	}
	cl, err := c.client(i)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		switch c.health(i) {
		case "standby", "active":
			return nil
		case "sealed":
			_, _ = cl.Sys().Unseal(c.key)
		}
	}
	return fmt.Errorf("vault node %d not serving 30 s after restart", i+1)
}

// replica is one `spotter serve` process of the chaos bench.
type replica struct {
	name   string
	url    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	client *http.Client
}

// chaosStack is awssim in this process and three spotter replicas, each
// through its own node of the Vault cluster, sharing one mount.
type chaosStack struct {
	sim    *awssim.Sim
	simSrv *http.Server
	simURL string
	reps   []*replica
	admin  string
	mount  string
	vc     *cluster
	hold   *fleetHold
	// resent counts 503s sent again; bare counts those without Retry-After.
	resent, bare atomic.Int64
}

func startChaosStack(ctx context.Context, o chaosOptions, vc *cluster, tmp string, logf func(string, ...any)) (_ *chaosStack, err error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	st := &chaosStack{vc: vc, admin: hex.EncodeToString(b) + hex.EncodeToString(b[:4]), mount: "chaos-" + hex.EncodeToString(b[:6])}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	st.sim = awssim.New(awssim.Options{Seed: 1})
	for _, od := range []bool{false, true} {
		if err := st.sim.SetCapacity(o.region, "", "", od, 1<<30); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st.simURL = "http://" + ln.Addr().String()
	st.hold = newFleetHold()
	st.simSrv = &http.Server{Handler: st.hold.wrap(st.sim), ReadHeaderTimeout: 10 * time.Second}
	go st.simSrv.Serve(ln)
	for i := range 3 {
		r, err := st.startReplica(ctx, o, tmp, i)
		if err != nil {
			return nil, err
		}
		st.reps = append(st.reps, r)
		logf("%s pid %d at %s via Vault node %d (log %s)", r.name, r.cmd.Process.Pid, r.url, i+1, r.log)
	}
	return st, nil
}

func (st *chaosStack) startReplica(ctx context.Context, o chaosOptions, tmp string, i int) (*replica, error) {
	r := &replica{name: fmt.Sprintf("replica-%d", i+1), exited: make(chan struct{})}
	dataDir := filepath.Join(tmp, r.name)
	r.log = filepath.Join(tmp, r.name+".log")
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(o.spotterBin, "serve", "--addr", addr, "--data-dir", dataDir,
		"--reaper-interval", "0", "--region", o.region, "--log-level", "warn")
	r.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + tmp,
		"VAULT_ADDR=" + st.vc.nodes[i%len(st.vc.nodes)], "SPOTTER_VAULT_ADDRS=" + strings.Join(st.vc.nodes, ","),
		"VAULT_CACERT=" + st.vc.ca, "VAULT_TOKEN=" + st.vc.token, "SPOTTER_VAULT_MOUNT=" + st.mount,
		"AWS_ENDPOINT_URL_EC2=" + st.simURL, "AWS_ENDPOINT_URL_STS=" + st.simURL, "AWS_ENDPOINT_URL_PRICING=" + st.simURL,
		"SPOTTER_ADMIN_TOKEN=" + st.admin,
	}
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	r.cmd.SysProcAttr = dieWithParent()
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", r.name, err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-r.exited:
			return nil, fmt.Errorf("%s exited at start:\n%s", r.name, tail(r.log, 20))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not start in 30 s:\n%s", r.name, tail(r.log, 20))
		}
		if r.client = healthyClient(ctx, "https://"+addr, filepath.Join(dataDir, "tls-cert.pem"), o.workers); r.client != nil {
			r.url = "https://" + addr
			return r, nil
		}
	}
}

// Close stops the replicas (SIGTERM, SIGKILL after 5 s), awssim, and
// removes the bench's Vault mount.
func (st *chaosStack) Close() {
	for _, r := range st.reps {
		select {
		case <-r.exited:
			continue
		default:
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	}
	if st.simSrv != nil {
		st.hold.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = st.simSrv.Shutdown(ctx)
		cancel()
	}
	if len(st.reps) > 0 {
		if l, err := st.vc.leader(context.Background(), -1, 30*time.Second); err == nil {
			if cl, err := st.vc.client(l); err == nil {
				_ = cl.Sys().Unmount(st.mount)
			}
		}
	}
}

// call sends one request to replica i and decodes the JSON reply.
func (st *chaosStack) call(ctx context.Context, i int, method, path, auth string, hdr map[string]string, body []byte) (int, http.Header, map[string]any, error) {
	r := st.reps[i%len(st.reps)]
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	return resp.StatusCode, resp.Header, v, nil
}

// token creates a capability token through replica 1 with awssim's keys.
func (st *chaosStack) token(ctx context.Context, o chaosOptions, extra map[string]any) (jwt, id string, v map[string]any, err error) {
	req := map[string]any{
		"name": "chaos",
		"credentials": map[string]string{
			"accessKeyId": awssim.DefaultAccessKeyID, "secretAccessKey": awssim.DefaultSecretAccessKey,
		},
		"policy": map[string]any{
			"regions": []string{o.region}, "instanceTypes": []string{"t3.micro"}, "amis": []string{benchAMI},
			"maxCount": 1, "maxRunning": 1000, // the most a policy allows "tasks": []string{"launch", "status"},
		},
	}
	for k, x := range extra {
		req[k] = x
	}
	body, _ := json.Marshal(req)
	code, _, v, err := st.call(ctx, 0, http.MethodPost, "/v1/tokens", st.admin, nil, body)
	if err != nil {
		return "", "", nil, err
	}
	if code != http.StatusCreated {
		return "", "", nil, fmt.Errorf("create token = %d %v", code, v)
	}
	jwt, _ = v["token"].(string)
	id, _ = v["id"].(string)
	return jwt, id, v, nil
}
