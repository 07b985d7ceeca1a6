package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Environment that names the cluster `scripts/vault-dev.sh cluster` started.
const (
	EnvClusterNodes   = "SPOTTER_VAULT_NODES"         // API addresses, comma-separated
	EnvClusterState   = "SPOTTER_VAULT_CLUSTER_STATE" // its state dir: pids, CA, token, unseal key
	EnvRequireCluster = "SPOTTER_REQUIRE_VAULT_CLUSTER"
)

// Cluster is the three-node Vault Raft cluster that `scripts/vault-dev.sh
// cluster` runs. Every test package shares it, so a test takes a lock on it:
// a shared one to use it (SharedCluster), an exclusive one to kill nodes
// (ClusterToBreak), which also restores every node when the test ends.
type Cluster struct {
	Nodes  []string // API addresses, https://127.0.0.1:port
	Token  string   // root token
	CACert string   // PEM file of the CA that signed every node's certificate

	state     string
	bin       string
	key       string // the one unseal key
	exclusive bool
}

func missingCluster(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(EnvRequireCluster) == "1" {
		tb.Fatalf("Vault cluster required (%s=1) but %s", EnvRequireCluster, why)
	}
	tb.Skipf("no Vault cluster: %s; run scripts/test.sh, or eval \"$(scripts/vault-dev.sh cluster)\"", why)
}

// SharedCluster returns the cluster for a test that uses but does not break
// it. Tests sharing it must use names from Unique.
func SharedCluster(tb testing.TB) *Cluster { return openCluster(tb, syscall.LOCK_SH) }

// ClusterToBreak returns the cluster for a test that kills or restarts nodes.
// It waits for other users to finish and, at its start and at cleanup,
// restarts whatever is dead and waits for a leader with every node a voter.
func ClusterToBreak(tb testing.TB) *Cluster {
	c := openCluster(tb, syscall.LOCK_EX)
	c.exclusive = true
	c.Heal(tb) // a test that died mid-kill may have left a node down
	tb.Cleanup(func() { c.Heal(tb) })
	return c
}

func openCluster(tb testing.TB, how int) *Cluster {
	tb.Helper()
	nodes, state := os.Getenv(EnvClusterNodes), os.Getenv(EnvClusterState)
	if nodes == "" || state == "" {
		missingCluster(tb, EnvClusterNodes+" or "+EnvClusterState+" is not set")
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(state, name))
		if err != nil {
			tb.Fatalf("vault cluster state: %v", err)
		}
		return strings.TrimSpace(string(b))
	}
	bin, err := Binary()
	if err != nil {
		missingCluster(tb, err.Error())
	}
	lock, err := os.OpenFile(filepath.Join(state, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatalf("vault cluster lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), how); err != nil {
		lock.Close()
		tb.Fatalf("vault cluster lock: %v", err)
	}
	// Registered first, so it runs after Heal: the next holder finds the cluster whole.
	tb.Cleanup(func() { lock.Close() })
	return &Cluster{
		Nodes: strings.Split(nodes, ","), Token: read("root-token"), CACert: filepath.Join(state, "ca.pem"),
		state: state, bin: bin, key: read("unseal-key"),
	}
}

// Server returns node i (0-based) as a Server, for code written against one
// Vault address.
func (c *Cluster) Server(i int) Server {
	return Server{Addr: c.Nodes[i], Token: c.Token, CACert: c.CACert}
}

// Client returns a root client for node i (0-based) that trusts the
// cluster's CA, with no retries and no redirects followed, so a test sees
// what that node itself answers.
func (c *Cluster) Client(tb testing.TB, i int) *api.Client {
	tb.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = c.Nodes[i]
	cfg.MaxRetries = 0
	cfg.Timeout = 5 * time.Second
	cfg.DisableRedirects = true
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: c.CACert}); err != nil {
		tb.Fatalf("vault client TLS: %v", err)
	}
	cl, err := api.NewClient(cfg)
	if err != nil {
		tb.Fatalf("vault client: %v", err)
	}
	cl.SetToken(c.Token)
	return cl
}

// health is what node i's sys/health says: "active", "standby", "sealed",
// "uninitialized", or "down" when it does not answer.
func (c *Cluster) health(tb testing.TB, i int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := c.Client(tb, i).Sys().HealthWithContext(ctx)
	switch {
	case err != nil:
		return "down"
	case !h.Initialized:
		return "uninitialized"
	case h.Sealed:
		return "sealed"
	case h.Standby:
		return "standby"
	}
	return "active"
}

// Leader waits up to timeout for one node to be active and returns its index.
func (c *Cluster) Leader(tb testing.TB, timeout time.Duration) int {
	tb.Helper()
	var states []string
	for deadline := time.Now().Add(timeout); ; {
		states = states[:0]
		for i := range c.Nodes {
			s := c.health(tb, i)
			if s == "active" {
				return i
			}
			states = append(states, s)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no Vault leader after %v; nodes: %v", timeout, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Standby returns the index of an unsealed node that is not the leader.
func (c *Cluster) Standby(tb testing.TB) int {
	tb.Helper()
	for i := range c.Nodes {
		if c.health(tb, i) == "standby" {
			return i
		}
	}
	tb.Fatalf("no standby node among %v", c.Nodes)
	return -1
}

func (c *Cluster) pid(tb testing.TB, i int) int {
	b, err := os.ReadFile(filepath.Join(c.state, fmt.Sprintf("node%d", i+1), "pid"))
	if err != nil {
		tb.Fatalf("node %d pid: %v", i, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("node %d pid: %v", i, err)
	}
	return pid
}

func (c *Cluster) mustBreak(tb testing.TB) {
	if !c.exclusive {
		tb.Fatalf("vaulttest: kill or restart nodes only on a cluster from ClusterToBreak")
	}
}

// Kill ends node i (0-based) with SIGKILL, as a crash would, and waits until
// its API port refuses connections.
func (c *Cluster) Kill(tb testing.TB, i int) {
	tb.Helper()
	c.mustBreak(tb)
	if err := syscall.Kill(c.pid(tb, i), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		tb.Fatalf("kill node %d: %v", i, err)
	}
	u, _ := url.Parse(c.Nodes[i])
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return
		}
		conn.Close()
	}
	tb.Fatalf("node %d still answers 10 s after SIGKILL", i)
}

// Pause stops node i with SIGSTOP, as a hung process or a network cut
// would look: its port still accepts connections, nothing answers. The node
// is resumed at cleanup (before the cluster is healed) or by Resume.
func (c *Cluster) Pause(tb testing.TB, i int) {
	tb.Helper()
	c.mustBreak(tb)
	pid := c.pid(tb, i)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		tb.Fatalf("pause node %d: %v", i, err)
	}
	tb.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// Resume continues node i after Pause.
func (c *Cluster) Resume(tb testing.TB, i int) {
	tb.Helper()
	if err := syscall.Kill(c.pid(tb, i), syscall.SIGCONT); err != nil {
		tb.Fatalf("resume node %d: %v", i, err)
	}
}

// Restart starts node i again from its config and state, unseals it, and
// waits until it is a standby or the leader again. The process outlives the
// test (cluster-stop ends it through its pid file).
func (c *Cluster) Restart(tb testing.TB, i int) {
	tb.Helper()
	c.mustBreak(tb)
	dir := filepath.Join(c.state, fmt.Sprintf("node%d", i+1))
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(c.bin, "server", "-config="+filepath.Join(dir, "vault.hcl"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, like the nodes the script started: a signal
	// to the test's group must not take a node with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("restart node %d: %v", i, err)
	}
	go cmd.Wait() // reap it if it dies while we run
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.unseal(tb, i)
}

// unseal gives node i the unseal key until it is a standby or the leader.
func (c *Cluster) unseal(tb testing.TB, i int) {
	tb.Helper()
	cl := c.Client(tb, i)
	var state string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		switch state = c.health(tb, i); state {
		case "standby", "active":
			return
		case "sealed":
			if _, err := cl.Sys().Unseal(c.key); err != nil {
				tb.Logf("unseal node %d: %v", i, err)
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.state, fmt.Sprintf("node%d", i+1), "log"))
	tb.Fatalf("node %d not serving after 30 s (%s); log tail:\n%s", i, state, tail(string(log), 20))
}

// Heal restarts every node that does not answer, unseals any sealed one, and
// waits for a leader with all nodes voters, so the next test starts from a
// whole cluster.
func (c *Cluster) Heal(tb testing.TB) {
	tb.Helper()
	for i := range c.Nodes {
		switch c.health(tb, i) {
		case "down":
			c.Restart(tb, i)
		case "sealed":
			c.unseal(tb, i)
		}
	}
	leader := c.Leader(tb, 30*time.Second)
	cl := c.Client(tb, leader)
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		// Autopilot calls the cluster healthy when every server is alive and
		// in touch with the leader; a dead node stays a voter in the Raft
		// configuration, so that alone proves nothing.
		s, err := cl.Logical().Read("sys/storage/raft/autopilot/state")
		if err != nil || s == nil {
			last = fmt.Sprint("autopilot state: ", err)
			continue
		}
		healthy, _ := s.Data["healthy"].(bool)
		servers, _ := s.Data["servers"].(map[string]any)
		voters := 0
		for _, srv := range servers {
			if m, _ := srv.(map[string]any); m["status"] == "voter" || m["status"] == "leader" {
				voters++
			}
		}
		if healthy && voters == len(c.Nodes) {
			return
		}
		last = fmt.Sprintf("healthy=%t, %d of %d voters", healthy, voters, len(c.Nodes))
	}
	tb.Fatalf("vault cluster not whole 30 s after heal: %s", last)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
