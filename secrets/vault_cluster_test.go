package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/internal/vaulttest"
	"github.com/spotter-dev/spotter/secrets"
)

// These tests run on the three-node Raft cluster of `scripts/vault-dev.sh
// cluster` (scripts/test.sh starts it); without it they skip, unless
// SPOTTER_REQUIRE_VAULT_CLUSTER=1.

// openClusterFixture runs the contract on a standby node: every call is
// forwarded to the leader, so this proves a replica may use any node.
func openClusterFixture(t testing.TB) fixture {
	t.Helper()
	c := vaulttest.SharedCluster(t)
	c.Leader(t, 10*time.Second)
	return openVaultFixtureOn(t, c.Server(c.Standby(t)))
}

// clusterStore opens a store that starts on node first and knows every
// node, as a replica configured with SPOTTER_VAULT_ADDRS would.
func clusterStore(t *testing.T, c *vaulttest.Cluster, n vaultNames, first int, timeout time.Duration) *secrets.Vault {
	t.Helper()
	cfg := n.config(c.Server(first), t)
	for i, addr := range c.Nodes {
		if i != first {
			cfg.Addrs = append(cfg.Addrs, addr)
		}
	}
	cfg.Timeout = timeout
	return openVault(t, cfg)
}

// callLog is what a loop of store calls saw, in order.
type callLog struct {
	at   []time.Duration // since the kill; negative before it
	took []time.Duration
	errs []error
}

// until calls op every 50 ms until stop closes, timing each call.
func (l *callLog) until(stop <-chan struct{}, killed func() time.Time, op func(ctx context.Context) error) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		start := time.Now()
		err := op(context.Background())
		l.at = append(l.at, start.Sub(killed()))
		l.took = append(l.took, time.Since(start))
		l.errs = append(l.errs, err)
	}
}

// TestClusterLeaderFailover kills the leader under steady calls from two
// stores, one on the leader itself and one on a standby: every call ends
// within the store's deadline, a call that fails says ErrUnavailable, and
// calls succeed again within 10 s of the kill.
func TestClusterLeaderFailover(t *testing.T) {
	const timeout = 2 * time.Second
	limit := timeout + 1500*time.Millisecond
	c := vaulttest.ClusterToBreak(t)
	leader := c.Leader(t, 10*time.Second)
	standby := c.Standby(t)
	n := uniqueNames()
	cleanupVault(t, c.Client(t, standby), n)
	stores := map[string]*secrets.Vault{
		"on the leader":  clusterStore(t, c, n, leader, timeout),
		"on the standby": clusterStore(t, c, n, standby, timeout),
	}
	for name, v := range stores {
		if _, err := v.Put(bg, "tokens/"+name, secrets.Record{Public: []byte("p")}, secrets.AnyVersion); err != nil {
			t.Fatalf("Put %s before the kill: %v", name, err)
		}
	}

	var mu sync.Mutex
	var killedAt time.Time
	killed := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if killedAt.IsZero() {
			return time.Now().Add(time.Hour) // not yet: negative offsets
		}
		return killedAt
	}
	stop := make(chan struct{})
	logs := map[string]*callLog{}
	var wg sync.WaitGroup
	for name, v := range stores {
		l := &callLog{}
		logs[name] = l
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := 0
			l.until(stop, killed, func(ctx context.Context) error {
				i++
				// A write then a read: both must go through the new leader.
				key := fmt.Sprintf("tokens/%s-%d", name, i)
				if _, err := v.Put(ctx, key, secrets.Record{Public: []byte(key)}, secrets.CreateOnly); err != nil {
					return err
				}
				_, err := v.Get(ctx, key)
				return err
			})
		}()
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	c.Kill(t, leader)
	newLeader := c.Leader(t, 20*time.Second)
	electedIn := time.Since(killedAt)
	time.Sleep(3 * time.Second) // calls on the new leader
	close(stop)
	wg.Wait()
	t.Logf("killed node %d; node %d leads after %v", leader, newLeader, electedIn.Round(time.Millisecond))

	for name, l := range logs {
		var failed int
		var firstErr, resumed time.Duration = -1, -1
		for i, err := range l.errs {
			if l.took[i] > limit {
				t.Errorf("%s: a call at %v took %v; want < %v", name, l.at[i].Round(time.Millisecond), l.took[i], limit)
			}
			switch {
			case err == nil && l.at[i] > 0 && firstErr >= 0 && resumed < 0:
				resumed = l.at[i] + l.took[i]
			case err != nil && !errors.Is(err, secrets.ErrUnavailable):
				t.Errorf("%s: call at %v = %v; want success or ErrUnavailable", name, l.at[i].Round(time.Millisecond), err)
			case err != nil:
				failed++
				if firstErr < 0 {
					firstErr = l.at[i]
				}
				if resumed >= 0 {
					t.Errorf("%s: call at %v failed after calls had resumed at %v: %v", name, l.at[i].Round(time.Millisecond), resumed, err)
				}
			}
		}
		t.Logf("%s: %d calls, %d ErrUnavailable, first failure at %v, resumed at %v",
			name, len(l.errs), failed, firstErr.Round(time.Millisecond), resumed.Round(time.Millisecond))
		if failed == 0 {
			// An election takes over a second; a store that never failed did
			// not really run through it, and the test proved nothing.
			t.Errorf("%s: no call failed while the cluster had no leader", name)
		}
		if resumed < 0 || resumed > 10*time.Second {
			t.Errorf("%s: calls resumed at %v after the kill; want within 10 s", name, resumed)
		}
		if last := len(l.errs) - 1; last < 0 || l.errs[last] != nil {
			t.Errorf("%s: the last call did not succeed", name)
		}
	}
}

// raceOutcome is what two stores on different nodes got for one key, each
// writing its own value with CreateOnly at the same moment.
type raceOutcome struct {
	key        string
	errA, errB error
}

func race(a, b *secrets.Vault, key string) raceOutcome {
	o := raceOutcome{key: key}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, o.errA = a.Put(bg, key, secrets.Record{Public: []byte("a")}, secrets.CreateOnly)
	}()
	go func() {
		defer wg.Done()
		_, o.errB = b.Put(bg, key, secrets.Record{Public: []byte("b")}, secrets.CreateOnly)
	}()
	wg.Wait()
	return o
}

// getWithin reads key, retrying ErrUnavailable for up to 10 s.
func getWithin(t *testing.T, v *secrets.Vault, key string) (secrets.Record, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := v.Get(bg, key)
		if !errors.Is(err, secrets.ErrUnavailable) || time.Now().After(deadline) {
			return rec, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterCreateOnlyAcrossFailover races CreateOnly writes from two
// stores on different nodes while the leader dies: never do both win, a
// store told it won finds its own value stored, and once a new leader
// serves, exactly one wins every race.
func TestClusterCreateOnlyAcrossFailover(t *testing.T) {
	const timeout = 2 * time.Second
	c := vaulttest.ClusterToBreak(t)
	leader := c.Leader(t, 10*time.Second)
	standby := c.Standby(t)
	n := uniqueNames()
	cleanupVault(t, c.Client(t, standby), n)
	a := clusterStore(t, c, n, leader, timeout)
	b := clusterStore(t, c, n, standby, timeout)

	// Races run on their own goroutine; the kill stays on the test's,
	// where a failing helper may stop the test.
	var outcomes []raceOutcome
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			outcomes = append(outcomes, race(a, b, fmt.Sprintf("totp/during-%d", i)))
		}
	}()
	time.Sleep(300 * time.Millisecond)
	c.Kill(t, leader)
	c.Leader(t, 20*time.Second)
	time.Sleep(time.Second)
	close(stop)
	<-done
	for i := range 20 {
		outcomes = append(outcomes, race(a, b, fmt.Sprintf("totp/after-%d", i)))
	}

	var wonA, wonB, unknown, neither int
	for _, o := range outcomes {
		for _, err := range []error{o.errA, o.errB} {
			if err != nil && !errors.Is(err, secrets.ErrConflict) && !errors.Is(err, secrets.ErrUnavailable) {
				t.Errorf("%s: Put = %v; want success, ErrConflict or ErrUnavailable", o.key, err)
			}
		}
		if o.errA == nil && o.errB == nil {
			t.Errorf("%s: both CreateOnly writes succeeded", o.key)
			continue
		}
		rec, err := getWithin(t, a, o.key)
		switch {
		case o.errA == nil || o.errB == nil:
			want := map[bool]string{true: "a", false: "b"}[o.errA == nil]
			if err != nil || string(rec.Public) != want {
				t.Errorf("%s: %s won, but Get = %q, %v", o.key, want, rec.Public, err)
			}
			if want == "a" {
				wonA++
			} else {
				wonB++
			}
		case errors.Is(err, secrets.ErrNotFound):
			// Neither write landed: both failed for want of a leader.
			neither++
		case err == nil:
			// One write landed but its reply was lost in the failover and
			// the retry was refused: fails closed, and still only one value.
			unknown++
			if p := string(rec.Public); p != "a" && p != "b" {
				t.Errorf("%s: stored %q; want a or b", o.key, p)
			}
		default:
			t.Errorf("%s: Get = %v", o.key, err)
		}
		if strings.HasPrefix(o.key, "totp/after-") &&
			!(o.errA == nil && errors.Is(o.errB, secrets.ErrConflict)) && !(o.errB == nil && errors.Is(o.errA, secrets.ErrConflict)) {
			t.Errorf("%s: after the failover, A err=%v, B err=%v; want one winner and one ErrConflict", o.key, o.errA, o.errB)
		}
	}
	t.Logf("%d races: A won %d, B won %d, neither landed %d, one landed with its reply lost %d",
		len(outcomes), wonA, wonB, neither, unknown)
	if neither+unknown == 0 {
		t.Errorf("no race met the failover; the test proved nothing about it")
	}
}

// TestVaultNextNode: with a dead address first and a live one after it,
// the store starts, and every call succeeds, on the live one. It needs only
// the dev server, so it runs wherever the Vault tests do.
func TestVaultNextNode(t *testing.T) {
	srv := vaulttest.Shared(t)
	n := uniqueNames()
	cleanupVault(t, srv.Client(t), n)
	cfg := n.config(srv, t)
	dead := closedPort(t)
	cfg.Addr, cfg.Addrs = dead, []string{dead + "/", " ", srv.Addr}
	cfg.Timeout = 2 * time.Second
	v := openVault(t, cfg)
	for i := range 3 {
		key := fmt.Sprintf("tokens/next-%d", i)
		if _, err := v.Put(bg, key, secrets.Record{Public: []byte("p")}, secrets.CreateOnly); err != nil {
			t.Fatalf("Put(%s) = %v; want success on the live node", key, err)
		}
		if _, err := v.Get(bg, key); err != nil {
			t.Fatalf("Get(%s) = %v", key, err)
		}
	}
	if err := v.Ping(bg); err != nil {
		t.Fatalf("Ping = %v", err)
	}
}

// TestVaultAllNodesDown: when no node answers, a call fails with
// ErrUnavailable within the deadline instead of going round the list, and
// the switches it makes write one warning per node, not one per call.
func TestVaultAllNodesDown(t *testing.T) {
	srv := vaulttest.Start(t)
	n := uniqueNames()
	cfg := n.config(srv, t)
	cfg.Addrs = []string{closedPort(t), closedPort(t)}
	cfg.Timeout = 2 * time.Second
	var logs logBuffer
	cfg.Logger = slogTo(&logs)
	v := openVault(t, cfg)
	srv.Stop()
	ops := storeOps(v, []byte("vault:v1:x"))
	for name, op := range ops {
		assertUnavailable(t, name, cfg.Timeout+1500*time.Millisecond, op)
	}
	// Each op tried all three nodes: 2 switches each.
	if got := strings.Count(logs.String(), "switching to the next"); got < 1 || got > 3 {
		t.Errorf("%d switch warnings for %d switches; want 1 to 3 (one per node):\n%s", got, 2*len(ops), logs.String())
	}
}

// TestClusterNodePaused stops (SIGSTOP) the standby a store uses: its port
// still takes connections but nothing answers, so calls end at their
// deadline rather than with a refusal. The store must not stay on that node:
// after at most two timed-out calls, calls succeed through another node.
func TestClusterNodePaused(t *testing.T) {
	const timeout = 2 * time.Second
	limit := timeout + 1500*time.Millisecond
	c := vaulttest.ClusterToBreak(t)
	c.Leader(t, 10*time.Second)
	standby := c.Standby(t)
	n := uniqueNames()
	cleanupVault(t, c.Client(t, c.Leader(t, time.Second)), n)
	v := clusterStore(t, c, n, standby, timeout)
	if _, err := v.Put(bg, "tokens/warm", secrets.Record{Public: []byte("p")}, secrets.AnyVersion); err != nil {
		t.Fatalf("Put before the pause: %v", err)
	}
	c.Pause(t, standby)
	paused := time.Now()
	var failed, ok int
	for i := 0; ok < 5 && time.Since(paused) < 4*limit; i++ {
		start := time.Now()
		_, err := v.Put(bg, fmt.Sprintf("tokens/p-%d", i), secrets.Record{Public: []byte("p")}, secrets.CreateOnly)
		if took := time.Since(start); took > limit {
			t.Errorf("call %d took %v; want < %v", i, took, limit)
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, secrets.ErrUnavailable) && ok == 0:
			failed++
		default:
			t.Errorf("call %d at %v = %v; want success (or ErrUnavailable before the first success)", i, start.Sub(paused).Round(time.Millisecond), err)
		}
	}
	t.Logf("node %d paused: %d calls timed out, then %d succeeded, %v after the pause", standby, failed, ok, time.Since(paused).Round(time.Millisecond))
	if ok < 5 || failed > 2 {
		t.Fatalf("after the pause: %d failed, %d succeeded; want at most 2 failures, then successes", failed, ok)
	}
}
