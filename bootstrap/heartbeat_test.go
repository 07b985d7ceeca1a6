package bootstrap_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/bootstrap"
	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
)

// bootstrapped redeems a launch's credential for id (launched now) and
// returns its grant.
func (f *fixture) bootstrapped(t testing.TB, id, clientToken string) bootstrap.Grant {
	t.Helper()
	f.launched(id, clientToken, f.clk.Now())
	cred, _ := f.issue(t, ciPool(), clientToken, 4)
	g, err := f.svc.Redeem(bg, bootstrap.Request{Credential: cred, InstanceID: id})
	if err != nil {
		t.Fatalf("redeem: %v\n%s", err, f.audit.String())
	}
	return g
}

func (f *fixture) record(t *testing.T, id string) liveness.Record {
	t.Helper()
	live, err := f.svc.Liveness(bg, poolName)
	if err != nil {
		t.Fatal(err)
	}
	return live[id]
}

// heartbeatPool is ciPool normalized with a 3m heartbeat timeout: a beat
// every minute, written at most every 30 s.
func (f *fixture) heartbeatPool(t testing.TB) {
	t.Helper()
	p := ciPool()
	p.HeartbeatTimeout = pool.Duration(3 * time.Minute)
	f.pools.mu.Lock()
	f.pools.recs[poolName] = pools.Record{Pool: p, Incarnation: "inc-1"}
	f.pools.mu.Unlock()
}

// TestHeartbeatGrantAndWrites: the grant carries the credential and the
// interval; the hand-off is the first sign of life; beats are written
// once half an interval has passed since the last one written (exactly
// at it, and not one second before), or at once when the state changes.
func TestHeartbeatGrantAndWrites(t *testing.T) {
	const id = "i-0123456789abcdef0"
	cases := map[string]struct {
		after  time.Duration
		state  string
		writes bool
	}{
		"half an interval less 1s":       {after: 30*time.Second - time.Second},
		"exactly half an interval":       {after: 30 * time.Second, writes: true},
		"an interval":                    {after: time.Minute, writes: true},
		"at once, but now busy":          {after: time.Second, state: liveness.StateBusy, writes: true},
		"half an interval less 1s, idle": {after: 29 * time.Second, state: liveness.StateIdle, writes: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, backends()["embedded"], false)
			f.heartbeatPool(t)
			start := f.clk.Now().UTC()
			g := f.bootstrapped(t, id, launchCT)
			if !strings.HasPrefix(g.Heartbeat, "sph_") || len(g.Heartbeat) != 56 || g.HeartbeatInterval != time.Minute {
				t.Fatalf("grant heartbeat %q every %v", g.Heartbeat, g.HeartbeatInterval)
			}
			if !strings.Contains(g.Lines(), "heartbeat 60 "+g.Heartbeat+"\n") {
				t.Errorf("the template's lines lack the heartbeat:\n%s", g.Lines())
			}
			if r := f.record(t, id); !r.BootstrappedAt.Equal(start) || !r.LastSeen.Equal(start) {
				t.Fatalf("record after the hand-off %+v", r)
			}
			f.clk.Add(tc.after)
			every, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: g.Heartbeat, InstanceID: id, State: tc.state})
			if err != nil || every != time.Minute {
				t.Fatalf("heartbeat: %v, every %v", err, every)
			}
			r := f.record(t, id)
			if written := r.LastSeen.Equal(start.Add(tc.after)); written != tc.writes {
				t.Errorf("written = %v (record %+v); want %v", written, r, tc.writes)
			}
			if tc.writes && r.State != tc.state {
				t.Errorf("state %q; want %q", r.State, tc.state)
			}
			if !r.BootstrappedAt.Equal(start) {
				t.Errorf("a beat moved bootstrappedAt: %+v", r)
			}
		})
	}
}

// TestHeartbeatRefusals: every refusal is the same 401, whatever the
// reason, with an audit line naming it; the credential is nowhere in the
// logs. A wrong state is a 400 before any credential is read.
func TestHeartbeatRefusals(t *testing.T) {
	const id, other = "i-0123456789abcdef0", "i-0fedcba987654321f"
	cases := map[string]struct {
		setup  func(f *fixture)
		cred   func(g bootstrap.Grant) string
		id     string
		after  time.Duration
		reason string
	}{
		"unknown credential":     {cred: func(bootstrap.Grant) string { return "sph_" + strings.Repeat("a", 52) }, reason: "unknown"},
		"malformed":              {cred: func(bootstrap.Grant) string { return "sph_short" }, reason: "malformed"},
		"a bootstrap credential": {cred: func(bootstrap.Grant) string { return "spb_" + strings.Repeat("a", 52) }, reason: "malformed"},
		"another instance":       {id: other, reason: "other_instance"},
		"expired at maxLifetime": {after: time.Hour, reason: "expired"},
		"pool deleted": {setup: func(f *fixture) {
			now := f.clk.Now()
			r := f.pools.recs[poolName]
			r.DeletedAt = &now
			f.pools.recs[poolName] = r
		}, reason: "pool_changed"},
		"pool created again": {setup: func(f *fixture) {
			r := f.pools.recs[poolName]
			r.Incarnation = "inc-2"
			f.pools.recs[poolName] = r
		}, reason: "pool_changed"},
		"pool gone": {setup: func(f *fixture) { delete(f.pools.recs, poolName) }, reason: "pool_gone"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, backends()["embedded"], false)
			f.heartbeatPool(t)
			g := f.bootstrapped(t, id, launchCT)
			before := f.record(t, id)
			if tc.setup != nil {
				f.pools.mu.Lock()
				tc.setup(f)
				f.pools.mu.Unlock()
			}
			f.clk.Add(tc.after)
			cred, iid := g.Heartbeat, id
			if tc.cred != nil {
				cred = tc.cred(g)
			}
			if tc.id != "" {
				iid = tc.id
			}
			_, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: cred, InstanceID: iid, State: liveness.StateBusy, Remote: "198.51.100.7"})
			if apperr.Code(err) != apperr.Unauth || !strings.Contains(apperr.Details(err), "heartbeat credential is not valid for this instance") {
				t.Fatalf("err = %v; want the one 401", err)
			}
			if !strings.Contains(f.audit.String(), `"event":"heartbeat","outcome":"refused","reason":"`+tc.reason+`"`) {
				t.Errorf("no audit line with reason %s:\n%s", tc.reason, f.audit.String())
			}
			if after := f.record(t, id); after != before {
				t.Errorf("a refused beat wrote %+v", after)
			}
			if strings.Contains(f.audit.String()+f.logs.String(), g.Heartbeat) {
				t.Error("the heartbeat credential is in the logs")
			}
		})
	}
	t.Run("one second before maxLifetime", func(t *testing.T) {
		f := newFixture(t, backends()["embedded"], false)
		f.heartbeatPool(t)
		g := f.bootstrapped(t, id, launchCT)
		f.clk.Add(time.Hour - time.Second)
		if _, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: g.Heartbeat, InstanceID: id}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad state", func(t *testing.T) {
		f := newFixture(t, backends()["embedded"], false)
		f.heartbeatPool(t)
		g := f.bootstrapped(t, id, launchCT)
		_, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: g.Heartbeat, InstanceID: id, State: "sleeping"})
		if apperr.Code(err) != apperr.Invalid || !strings.Contains(f.audit.String(), `"reason":"bad_state"`) {
			t.Errorf("err = %v, audit:\n%s", err, f.audit.String())
		}
	})
}

// TestHeartbeatAuditThrottled: a flood of one kind of refusal from one
// address writes one line a minute and then a count, not a line each.
func TestHeartbeatAuditThrottled(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	f.heartbeatPool(t)
	for range 100 {
		_, _ = f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: "sph_" + strings.Repeat("b", 52), InstanceID: "i-0123456789abcdef0", Remote: "203.0.113.9"})
	}
	if n := strings.Count(f.audit.String(), `"reason":"unknown"`); n != 1 {
		t.Fatalf("%d lines for 100 refusals in a minute; want 1", n)
	}
	f.clk.Add(time.Minute)
	f.svc.RefuseHeartbeat(bg, "203.0.113.9", "unknown")
	if !strings.Contains(f.audit.String(), `"suppressed":99`) {
		t.Errorf("no summary of the 99 held back:\n%s", f.audit.String())
	}
}

// TestSweepHeartbeats: the credential is nowhere in the store file (only
// its hash); it is deleted once its maxLifetime has passed (exactly
// then), not a second before.
func TestSweepHeartbeats(t *testing.T) {
	f := newFixture(t, backends()["embedded"], false)
	f.heartbeatPool(t)
	g := f.bootstrapped(t, "i-0123456789abcdef0", launchCT)
	if _, err := f.svc.Heartbeat(bg, bootstrap.HeartbeatRequest{Credential: g.Heartbeat, InstanceID: "i-0123456789abcdef0", State: "busy"}); err != nil {
		t.Fatal(err)
	}
	if raw := f.rawStore(t); strings.Contains(raw, g.Heartbeat) || !strings.Contains(raw, "i-0123456789abcdef0") {
		t.Fatal("the store file holds the heartbeat credential in the clear (or the test reads nothing)")
	}
	f.clk.Add(time.Hour - time.Second)
	if n, err := f.svc.SweepHeartbeats(bg); n != 0 || err != nil {
		t.Fatalf("a second before maxLifetime: swept %d, %v", n, err)
	}
	f.clk.Add(time.Second)
	if n, err := f.svc.SweepHeartbeats(bg); n != 1 || err != nil {
		t.Fatalf("at maxLifetime: swept %d, %v", n, err)
	}
	if keys, _ := f.st.List(bg, bootstrap.HeartbeatPrefix); len(keys) != 0 {
		t.Errorf("left %v", keys)
	}
}
