package bootstrap_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/pool"
)

var credRE = regexp.MustCompile(`SPOTTER_CREDENTIAL=(spb_[a-z2-7]+)\n`)

// issue mints a launch's credential and returns it, read back from the
// user data as an instance would.
func (f *fixture) issue(t testing.TB, p pool.Pool, clientToken string, capacity int) (string, string) {
	t.Helper()
	ud, err := f.svc.Issue(bg, p, bootstrap.Launch{ClientToken: clientToken, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	m := credRE.FindStringSubmatch(string(ud))
	if m == nil {
		t.Fatalf("user data carries no credential:\n%s", ud)
	}
	return m[1], string(ud)
}

// canaries are secret values that must appear nowhere but in the one
// grant.
var canaries = map[string]string{
	"agent-token":     "CANARY-agent-token-7f3a",
	"ssh-key":         "-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY-ssh-91bd\n-----END OPENSSH PRIVATE KEY-----\n",
	"git-credentials": "https://x:CANARY-git-55e2@github.com",
}

const scopedCanary = "CANARY-pipeline-npm-0c1d"

func (f *fixture) setCanaries(t testing.TB) {
	t.Helper()
	for name, v := range canaries {
		if _, err := f.svc.SetSecret(bg, poolName, "", name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.SetSecret(bg, poolName, "pipeline/web", "env.NPM_TOKEN", []byte(scopedCanary)); err != nil {
		t.Fatal(err)
	}
}

func allCanaries() []string {
	out := []string{scopedCanary}
	for _, v := range canaries {
		out = append(out, strings.Split(v, "\n")...)
	}
	return slicesCompact(out)
}

func slicesCompact(s []string) []string {
	out := s[:0]
	for _, v := range s {
		if strings.Contains(v, "CANARY") {
			out = append(out, v)
		}
	}
	return out
}

// rawStore is every byte the store holds for the pool's secrets and the
// credentials: the bbolt file for the embedded store, each record's
// public and sealed parts for Vault.
func (f *fixture) rawStore(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if f.dir != "" {
		files, _ := filepath.Glob(filepath.Join(f.dir, "*"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err == nil {
				b.Write(data)
			}
		}
	}
	for _, prefix := range []string{bootstrap.SecretsPrefix, bootstrap.CredentialPrefix} {
		keys, err := f.st.List(bg, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			r, err := f.st.Get(bg, k)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(r.Public)
			b.Write(r.Sealed)
		}
	}
	return b.String()
}

// TestHandOff is the hand-off on both stores: secrets set, a launch's user
// data carries only the credential, the instance gets the secrets once,
// and no secret is anywhere else.
func TestHandOff(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open, true)
			f.setCanaries(t)
			cred, ud := f.issue(t, ciPool(), launchCT, 4)
			f.clk.Add(30 * time.Second)
			f.launched("i-0123456789abcdef0", launchCT, f.clk.Now())
			doc, sig := f.sig.sign(t, "i-0123456789abcdef0", "us-east-1", f.clk.Now())
			f.clk.Add(time.Minute)

			g, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0", Document: doc, Signature: sig})
			if err != nil {
				t.Fatal(err)
			}
			for n, v := range canaries {
				if g.Secrets[n] != v {
					t.Errorf("secret %s = %q; want %q", n, g.Secrets[n], v)
				}
			}
			if g.Scoped["pipeline/web"]["env.NPM_TOKEN"] != scopedCanary {
				t.Errorf("scoped = %v", g.Scoped)
			}
			if g.Agents != 4 || g.Pool != poolName || g.Template != pool.BootstrapBuildkite {
				t.Errorf("grant = %+v; want 4 agents (c6i.2xlarge's capacity) of %s", g, poolName)
			}
			lines := g.Lines()
			if !strings.Contains(lines, "agents 4\n") || !strings.Contains(lines, "label queue:linux\n") {
				t.Errorf("lines:\n%s", lines)
			}

			_, err = f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0", Document: doc, Signature: sig})
			if apperr.Code(err) != apperr.Unauth {
				t.Fatalf("second use: %v; want %s", err, apperr.Unauth)
			}
			if !strings.Contains(f.audit.String(), `"reason":"reused"`) || !strings.Contains(f.audit.String(), `"outcome":"granted"`) {
				t.Errorf("audit:\n%s", f.audit.String())
			}
			if strings.Contains(f.rawStore(t)+f.logs.String()+f.audit.String(), cred) {
				t.Error("the credential itself is in the store or the logs; only its hash may be")
			}
			for _, c := range allCanaries() {
				for where, text := range map[string]string{"user data": ud, "logs": f.logs.String(), "audit": f.audit.String(),
					"store": f.rawStore(t), "refusal": err.Error()} {
					if strings.Contains(text, c) {
						t.Errorf("secret %q is in the %s", c, where)
					}
				}
			}
		})
	}
}

// TestInTime: one second before bootTimeout ends the credential still
// serves (the other side of "late: at bootTimeout exactly").
func TestInTime(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	cred, _ := f.issue(t, ciPool(), launchCT, 1)
	f.launched("i-0123456789abcdef0", launchCT, f.clk.Now().Add(-time.Minute)) // the skew's edge
	f.clk.Add(10*time.Minute - time.Second)
	if _, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0"}); err != nil {
		t.Fatal(err)
	}
}

// TestEC2DownBurnsNothing: EC2 not answering is not the caller's fault:
// the error is not a 401 and the credential still serves afterwards.
func TestEC2DownBurnsNothing(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	cred, _ := f.issue(t, ciPool(), launchCT, 1)
	f.launched("i-0123456789abcdef0", launchCT, f.clk.Now())
	f.ec2.err = apperr.New(apperr.AWSUnavailable, "EC2 DescribeInstances did not answer")
	_, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0"})
	if apperr.Code(err) != apperr.AWSUnavailable {
		t.Fatalf("err = %v; want %s", err, apperr.AWSUnavailable)
	}
	f.ec2.err = nil
	if _, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: "i-0123456789abcdef0"}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUse: of simultaneous calls with one credential for one
// instance, exactly one gets the secrets; with capacity 1, of calls for
// different instances of the launch, exactly one does too.
func TestConcurrentUse(t *testing.T) {
	for name, open := range backends() {
		for _, sameInstance := range []bool{true, false} {
			t.Run(name+map[bool]string{true: "/same instance", false: "/capacity one"}[sameInstance], func(t *testing.T) {
				f := newFixture(t, open, false)
				f.setCanaries(t)
				const n = 8
				cred, _ := f.issue(t, ciPool(), launchCT, 1)
				ids := make([]string, n)
				for i := range ids {
					ids[i] = "i-0123456789abcdef0"
					if !sameInstance {
						ids[i] = "i-0123456789abcdef" + string(rune('0'+i))
					}
					f.launched(ids[i], launchCT, f.clk.Now())
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				wins, refusals := 0, 0
				for i := range n {
					wg.Go(func() {
						g, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: ids[i]})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil && g.Secrets["agent-token"] == canaries["agent-token"]:
							wins++
						case apperr.Code(err) == apperr.Unauth:
							refusals++
						default:
							t.Errorf("call %d: %v", i, err)
						}
					})
				}
				wg.Wait()
				if wins != 1 || refusals != n-1 {
					t.Fatalf("%d successes and %d refusals of %d; want exactly one success", wins, refusals, n)
				}
			})
		}
	}
}

// TestNoTemplate: a pool without bootstrap launches with its own user
// data and no credential is stored.
func TestNoTemplate(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	p := ciPool()
	p.Bootstrap, p.UserData = "", "IyEvYmluL3NoCmVjaG8gaGkK" // #!/bin/sh\necho hi\n
	ud, err := f.svc.Issue(bg, p, bootstrap.Launch{ClientToken: launchCT, Capacity: 1})
	if err != nil || string(ud) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("user data %q, %v", ud, err)
	}
	if keys, _ := f.st.List(bg, bootstrap.CredentialPrefix); len(keys) != 0 {
		t.Errorf("credentials stored: %v", keys)
	}
}

// TestSweep drops expired credentials only.
func TestSweep(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	f.issue(t, ciPool(), "sp-old", 1)
	f.clk.Add(6 * time.Minute)
	f.issue(t, ciPool(), "sp-new", 1)
	f.clk.Add(5 * time.Minute)
	n, err := f.svc.Sweep(bg)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	if keys, _ := f.st.List(bg, bootstrap.CredentialPrefix); len(keys) != 1 {
		t.Errorf("left %v; want the newer one", keys)
	}
}

// fakeMinter mints a JIT config per instance, or fails.
type fakeMinter struct {
	err   error
	calls []string
}

func (m *fakeMinter) Mint(_ context.Context, p pool.Pool, id string, agents int) (map[string]string, error) {
	m.calls = append(m.calls, id+" agents "+strconv.Itoa(agents))
	if m.err != nil {
		return nil, m.err
	}
	return map[string]string{"jit-config": "CANARY-jit-" + p.Name + "-" + id}, nil
}

// TestMinter: a minted secret is in the one answer and nowhere stored; a
// mint that fails is a server error that uses up nothing.
func TestMinter(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	f.setCanaries(t)
	m := &fakeMinter{err: apperr.New(apperr.Unavailable, "GitHub did not answer")}
	svc, err := bootstrap.New(bootstrap.Config{Store: f.st, Pools: f.pools, Instances: f.ec2, Minter: m, PublicURL: "https://spotter.test", Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ud, err := svc.Issue(bg, ciPool(), bootstrap.Launch{ClientToken: launchCT, Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	cred := credRE.FindStringSubmatch(string(ud))[1]
	const id = "i-0123456789abcdef0"
	f.launched(id, launchCT, f.clk.Now())
	if _, err := svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: id}); apperr.Code(err) != apperr.Unavailable {
		t.Fatalf("failing mint: %v; want %s", err, apperr.Unavailable)
	}
	// GitHub's rate limit reaches the instance as a 429 with its reset,
	// and uses nothing up either.
	m.err = &apperr.Error{Code: apperr.RateLimited, RetryAfter: 40 * time.Minute, Details: "GitHub rate-limits the token"}
	if _, err := svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: id}); apperr.Code(err) != apperr.RateLimited || apperr.RetryAfter(err) != 40*time.Minute {
		t.Fatalf("rate-limited mint: %v; want %s after 40m", err, apperr.RateLimited)
	}
	m.err = nil
	g, err := svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: id})
	if err != nil {
		t.Fatal(err)
	}
	want := "CANARY-jit-" + poolName + "-" + id
	if g.Secrets["jit-config"] != want || g.Secrets["agent-token"] != canaries["agent-token"] {
		t.Errorf("grant secrets = %v", g.Secrets)
	}
	if strings.Contains(f.rawStore(t)+f.logs.String(), want) {
		t.Error("the minted secret was stored or logged")
	}
	// The instance is a c6i.2xlarge: its launch config's 4 job slots.
	if len(m.calls) != 3 || m.calls[2] != id+" agents 4" {
		t.Errorf("mint calls %v; want 3, for %s with 4 agents", m.calls, id)
	}
}

// TestRateLimit: Burst well-formed calls reach the store, the next is 429
// with a Retry-After and no audit of a refusal; malformed ones are refused
// before the limit and spend none of it; time refills it.
func TestRateLimit(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	svc, err := bootstrap.New(bootstrap.Config{Store: f.st, Pools: f.pools, Instances: f.ec2, PublicURL: "https://spotter.test",
		Now: f.clk.Now, Rate: 1, Burst: 3})
	if err != nil {
		t.Fatal(err)
	}
	guess := bootstrap.Request{Credential: "spb_" + strings.Repeat("c", 52), InstanceID: "i-0123456789abcdef0"}
	for range 10 {
		if _, err := svc.Redeem(bg, bootstrap.Request{Credential: "junk", InstanceID: "i-1"}); apperr.Code(err) != apperr.Unauth {
			t.Fatalf("malformed: %v", err)
		}
	}
	for i := range 3 {
		if _, err := svc.Redeem(bg, guess); apperr.Code(err) != apperr.Unauth {
			t.Fatalf("call %d of the burst: %v; want %s", i+1, err, apperr.Unauth)
		}
	}
	_, err = svc.Redeem(bg, guess)
	if apperr.Code(err) != apperr.RateLimited || apperr.RetryAfter(err) < time.Second {
		t.Fatalf("past the burst: %v (retry after %s); want %s", err, apperr.RetryAfter(err), apperr.RateLimited)
	}
	f.clk.Add(time.Second)
	if _, err := svc.Redeem(bg, guess); apperr.Code(err) != apperr.Unauth {
		t.Fatalf("a second later: %v; want %s", err, apperr.Unauth)
	}
}
