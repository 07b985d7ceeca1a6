package reconcile

import (
	"slices"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
)

func danglingPool() pool.Pool {
	return pool.Pool{Name: "ci", Bootstrap: pool.BootstrapBuildkite, BootTimeout: pool.Duration(10 * time.Minute),
		HeartbeatTimeout: pool.Duration(3 * time.Minute), MaxCapacity: 10}
}

// TestDanglingReason: the windows at exactly their end and one second
// before and past it.
func TestDanglingReason(t *testing.T) {
	launched := t0
	boot := launched.Add(2 * time.Minute)
	running := pool.Instance{ID: "i-0000000000000001", State: pool.Idle, Launched: launched}
	cases := map[string]struct {
		p          func(*pool.Pool)
		in         pool.Instance
		rec        liveness.Record
		unlaunched bool // no LaunchedAt: an older spotter's launch
		now        time.Time
		want       string
	}{
		"an older spotter's launch, never heard from": {unlaunched: true, now: launched.Add(time.Hour)},
		"an older spotter's launch, bootstrapped, silent": {unlaunched: true, rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot},
			now: launched.Add(time.Hour)},
		"a pool stored before heartbeatTimeout: its default 3m": {p: func(p *pool.Pool) { p.HeartbeatTimeout = 0 },
			rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot}, now: boot.Add(3*time.Minute - time.Second)},
		"a pool stored before heartbeatTimeout, at 3m": {p: func(p *pool.Pool) { p.HeartbeatTimeout = 0 },
			rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot}, now: boot.Add(3 * time.Minute), want: DanglingNoHeartbeat},
		"no hand-off, bootTimeout less 1s": {now: launched.Add(10*time.Minute - time.Second)},
		"no hand-off, at bootTimeout":      {now: launched.Add(10 * time.Minute), want: DanglingNoBootstrap},
		"no hand-off, 1s past bootTimeout": {now: launched.Add(10*time.Minute + time.Second), want: DanglingNoBootstrap},
		"busy by the demand, no hand-off": {in: pool.Instance{ID: running.ID, State: pool.Busy, Launched: launched},
			now: launched.Add(10 * time.Minute), want: DanglingNoBootstrap},
		"EC2 pending past bootTimeout: Decide's": {in: pool.Instance{ID: running.ID, State: pool.Booting, Launched: launched},
			now: launched.Add(time.Hour)},
		"no template: nothing to judge": {p: func(p *pool.Pool) { p.Bootstrap = "" }, now: launched.Add(time.Hour)},
		"bootstrapped, silent heartbeatTimeout less 1s": {rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot},
			now: boot.Add(3*time.Minute - time.Second)},
		"bootstrapped, silent exactly heartbeatTimeout": {rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot},
			now: boot.Add(3 * time.Minute), want: DanglingNoHeartbeat},
		"bootstrapped, silent 1s past heartbeatTimeout": {rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot},
			now: boot.Add(3*time.Minute + time.Second), want: DanglingNoHeartbeat},
		"heartbeating long after bootTimeout": {rec: liveness.Record{BootstrappedAt: boot, LastSeen: launched.Add(time.Hour)},
			now: launched.Add(time.Hour + 2*time.Minute)},
		"bootstrapped, no beat yet, within heartbeatTimeout": {rec: liveness.Record{BootstrappedAt: boot},
			now: boot.Add(time.Minute)},
		"a beat without the hand-off written: its credential proves it": {rec: liveness.Record{BootstrappedAt: boot, LastSeen: launched.Add(30 * time.Minute)},
			now: launched.Add(31 * time.Minute)},
		"a heartbeat timeout of 15s, at it": {p: func(p *pool.Pool) { p.HeartbeatTimeout = pool.Duration(15 * time.Second) },
			rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot}, now: boot.Add(15 * time.Second), want: DanglingNoHeartbeat},
		"a heartbeat timeout of 15s, 1s before": {p: func(p *pool.Pool) { p.HeartbeatTimeout = pool.Duration(15 * time.Second) },
			rec: liveness.Record{BootstrappedAt: boot, LastSeen: boot}, now: boot.Add(14 * time.Second)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := danglingPool()
			if tc.p != nil {
				tc.p(&p)
			}
			in := tc.in
			if in.ID == "" {
				in = running
			}
			rec := tc.rec
			if !tc.unlaunched {
				rec.LaunchedAt = launched
			}
			if got := DanglingReason(p, in, rec, tc.now); got != tc.want {
				t.Errorf("DanglingReason = %q; want %q", got, tc.want)
			}
		})
	}
}

// TestPlanDangling: found now → tagged and not counted; tagged less than
// the grace ago → waits, not counted; a grace or more → terminated;
// alive again → untagged and counted; one with no record (an older
// spotter's launch) counts; records of instances gone are forgotten once
// quiet for heartbeatTimeout, and not before (nor a launch's record whose
// instance EC2 does not list yet).
func TestPlanDangling(t *testing.T) {
	p := danglingPool()
	now := t0.Add(time.Hour)
	grace := time.Minute
	in := func(id string) pool.Instance { return pool.Instance{ID: id, State: pool.Idle, Launched: t0} }
	alive := liveness.Record{LaunchedAt: t0, BootstrappedAt: t0.Add(time.Minute), LastSeen: now.Add(-time.Minute)}
	silent := liveness.Record{LaunchedAt: t0, BootstrappedAt: t0.Add(time.Minute), LastSeen: now.Add(-10 * time.Minute)}
	tagged := func(r liveness.Record, ago time.Duration) liveness.Record {
		r.DanglingSince, r.DanglingReason = now.Add(-ago), DanglingNoHeartbeat
		return r
	}
	ins := []pool.Instance{in("i-alive"), in("i-new"), in("i-never"), in("i-waits"), in("i-due"), in("i-due-plus"), in("i-back"), in("i-old")}
	live := map[string]liveness.Record{
		"i-alive": alive, "i-new": silent, "i-never": {LaunchedAt: t0},
		"i-waits": tagged(silent, grace-time.Second), "i-due": tagged(silent, grace), "i-due-plus": tagged(silent, grace+time.Second),
		"i-back":    tagged(alive, 30*time.Second),
		"i-gone":    {BootstrappedAt: t0, LastSeen: now.Add(-3 * time.Minute)},
		"i-leaving": {BootstrappedAt: t0, LastSeen: now.Add(-3*time.Minute + time.Second)},
		"i-started": {LaunchedAt: now.Add(-3*time.Minute + time.Second)}, // not listed by EC2 yet
		"i-ended":   {DanglingSince: now.Add(-3 * time.Minute), DanglingReason: DanglingNoBootstrap},
	}
	dp := planDangling(p, ins, live, now, grace)
	ids := func(ds []Dangler) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	var kept []string
	for _, i := range dp.keep {
		kept = append(kept, i.ID)
	}
	for name, c := range map[string]struct{ got, want []string }{
		"keep":      {kept, []string{"i-alive", "i-back", "i-old"}},
		"mark":      {ids(dp.mark), []string{"i-new", "i-never"}},
		"wait":      {ids(dp.wait), []string{"i-waits"}},
		"end":       {ids(dp.end), []string{"i-due", "i-due-plus"}},
		"recovered": {dp.recovered, []string{"i-back"}},
		"forget":    {dp.forget, []string{"i-ended", "i-gone"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v; want %v", name, c.got, c.want)
		}
	}
	for _, d := range dp.mark {
		want := map[string]string{"i-new": DanglingNoHeartbeat, "i-never": DanglingNoBootstrap}[d.ID]
		if d.Reason != want || !d.Since.Equal(now) {
			t.Errorf("mark %+v; want reason %s since now", d, want)
		}
	}
	if dp.end[0].Since != now.Add(-grace) {
		t.Errorf("end keeps when it was first found: %v", dp.end[0].Since)
	}
}
