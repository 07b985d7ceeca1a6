package pool

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func basePool(t *testing.T, mut func(*Pool)) Pool {
	t.Helper()
	p := Pool{Name: "linux-ci", TokenID: "tok_abcdefghijklmnopqrst", Region: "us-east-1", AMI: "ami-1",
		LaunchConfigs: []LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2xlarge", Capacity: 4}},
		MaxCapacity:   20}
	if mut != nil {
		mut(&p)
	}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	return p
}

// inst builds an instance: age since launch, state, weight 1, $0.03/h.
func inst(id string, age time.Duration, s State) Instance {
	i := Instance{ID: id, InstanceType: "c6i.large", State: s, Capacity: 1, Launched: now.Add(-age), Price: 0.03}
	if s == Idle {
		i.IdleSince = now.Add(-age / 2)
	}
	return i
}

func idleFor(i Instance, d time.Duration) Instance   { i.IdleSince = now.Add(-d); return i }
func weight(i Instance, w int) Instance              { i.Capacity = w; return i }
func priced(i Instance, p float64) Instance          { i.Price = p; return i }
func noticed(i Instance, ago time.Duration) Instance { i.Interrupted = now.Add(-ago); return i }

func demand(pending, running, idle int) Demand {
	return Demand{Pending: pending, Running: running, Idle: idle, At: now.Add(-5 * time.Second)}
}

func TestDecide(t *testing.T) {
	h := time.Hour
	tests := map[string]struct {
		pool      func(*Pool)
		in        Input
		desired   int
		launch    int
		onDemand  int
		replacing int
		ends      []End
		hold      string
	}{
		// --- idle ---
		"empty pool, no demand": {in: Input{Demand: demand(0, 0, 0)}},
		"surplus idle ends at once by default": {
			in:      Input{Demand: demand(0, 1, 1), Instances: []Instance{inst("busy", h, Busy), inst("idle", h, Idle)}},
			desired: 1, ends: []End{{"idle", ReasonIdle}}},
		"idle within idleTimeout stays": {
			pool: func(p *Pool) { p.IdleTimeout = Duration(10 * time.Minute) },
			in:   Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("a", h, Idle), 10*time.Minute-time.Second)}}},
		"idle exactly idleTimeout ends": {
			pool: func(p *Pool) { p.IdleTimeout = Duration(10 * time.Minute) },
			in:   Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("a", h, Idle), 10*time.Minute)}},
			ends: []End{{"a", ReasonIdle}}},
		"idle kept to EC2's 60 s minimum charge": {
			in: Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("a", 59*time.Second, Idle), 10*time.Second)}}},
		"idle at 60 s of life ends": {
			in:   Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("a", 60*time.Second, Idle), 10*time.Second)}},
			ends: []End{{"a", ReasonIdle}}},
		"minCapacity keeps idle": {
			pool:    func(p *Pool) { p.MinCapacity = 2 },
			in:      Input{Demand: demand(0, 0, 3), Instances: []Instance{inst("a", 3*h, Idle), inst("b", 2*h, Idle), inst("c", h, Idle)}},
			desired: 2, ends: []End{{"a", ReasonIdle}}},
		"oldest ends first at one price": {
			in:      Input{Demand: demand(0, 1, 2), Instances: []Instance{inst("new", h, Idle), inst("old", 3*h, Idle), inst("mid", 2*h, Idle)}},
			desired: 1, ends: []End{{"old", ReasonIdle}, {"mid", ReasonIdle}}},
		"most expensive per unit ends first": {
			pool:    func(p *Pool) { p.MinCapacity = 1 },
			in:      Input{Demand: demand(0, 0, 2), Instances: []Instance{inst("old-cheap", 3*h, Idle), priced(inst("new-dear", h, Idle), 0.05)}},
			desired: 1, ends: []End{{"new-dear", ReasonIdle}}},
		"never a busy instance": {
			in:      Input{Demand: demand(0, 2, 0), Instances: []Instance{inst("a", h, Busy), inst("b", h, Busy)}},
			desired: 2},
		"a heavy instance dearer per unit ends first": {
			pool:    func(p *Pool) { p.MinCapacity = 1 },
			in:      Input{Demand: demand(0, 0, 5), Instances: []Instance{priced(weight(inst("big", 2*h, Idle), 4), 0.2), inst("small", h, Idle)}},
			desired: 1, ends: []End{{"big", ReasonIdle}}},
		"a heavy idle instance ends only if all its units are surplus": {
			pool:    func(p *Pool) { p.MinCapacity = 2 },
			in:      Input{Demand: demand(0, 0, 5), Instances: []Instance{priced(weight(inst("big", 2*h, Idle), 4), 0.2), inst("small", h, Idle)}},
			desired: 2, ends: []End{{"small", ReasonIdle}}},

		// --- booting ---
		"booting capacity covers pending": {
			in:      Input{Demand: demand(3, 0, 0), Instances: []Instance{inst("a", 30*time.Second, Booting), inst("b", 30*time.Second, Booting), inst("c", 30*time.Second, Booting)}},
			desired: 3},
		"booting covers part": {
			in:      Input{Demand: demand(5, 0, 0), Instances: []Instance{inst("a", 30*time.Second, Booting), inst("b", 30*time.Second, Booting)}},
			desired: 5, launch: 3},
		"surplus booting is not ended (not idle)": {
			in:      Input{Demand: demand(0, 0, 0), Instances: []Instance{inst("a", 30*time.Second, Booting)}},
			desired: 0},
		"boot timeout ends and is replaced": {
			in:      Input{Demand: demand(1, 0, 0), Instances: []Instance{inst("stuck", 10*time.Minute, Booting)}},
			desired: 1, launch: 1, ends: []End{{"stuck", ReasonBootTimeout}}},
		"boot timeout one second short": {
			in:      Input{Demand: demand(1, 0, 0), Instances: []Instance{inst("slow", 10*time.Minute-time.Second, Booting)}},
			desired: 1},

		// --- terminateAfterJob: done instances ---
		"a done instance ends at once and is replaced for a pending job": {
			pool:    func(p *Pool) { p.IdleTimeout = Duration(time.Hour) },
			in:      Input{Demand: demand(1, 0, 0), Instances: []Instance{inst("spent", h, Done)}},
			desired: 1, launch: 1, ends: []End{{"spent", ReasonJobDone}}},
		"a done instance is no capacity beside a busy one": {
			in:      Input{Demand: demand(1, 1, 0), Instances: []Instance{inst("busy", h, Busy), weight(inst("spent", h, Done), 2)}},
			desired: 2, launch: 1, ends: []End{{"spent", ReasonJobDone}}},
		"a done instance ends within the scale-in cooldown and under stale demand": {
			pool: func(p *Pool) { p.ScaleInCooldown = Duration(time.Hour) },
			in: Input{Demand: Demand{At: now.Add(-time.Hour)}, LastScaleIn: now.Add(-time.Minute),
				Instances: []Instance{inst("spent", 30*time.Second, Done)}},
			hold: HoldStale, ends: []End{{"spent", ReasonJobDone}}},
		"a draining pool ends a done instance once": {
			pool: func(p *Pool) { p.Draining = true },
			in:   Input{Demand: demand(0, 0, 0), Instances: []Instance{inst("spent", h, Done)}},
			ends: []End{{"spent", ReasonJobDone}}},

		// --- bursts ---
		"burst of a 50-job matrix": {
			pool:    func(p *Pool) { p.MaxCapacity = 200 },
			in:      Input{Demand: demand(50, 10, 0), Instances: busyN(10)},
			desired: 60, launch: 50},
		"scalingRatio 0.5 rounds up": {
			pool:    func(p *Pool) { p.ScalingRatio = 0.5 },
			in:      Input{Demand: demand(5, 0, 0)},
			desired: 3, launch: 3},

		// --- caps ---
		"maxCapacity exactly reached": {
			in:      Input{Demand: demand(10, 10, 0), Instances: busyN(10)},
			desired: 20, launch: 10},
		"maxCapacity one short": {
			pool:    func(p *Pool) { p.MaxCapacity = 19 },
			in:      Input{Demand: demand(10, 10, 0), Instances: busyN(10)},
			desired: 19, launch: 9},
		"launch at the token's maxCount": {
			in:      Input{Demand: demand(10, 0, 0), MaxLaunch: 10},
			desired: 10, launch: 10},
		"launch past the token's maxCount waits for the next decision": {
			in:      Input{Demand: demand(11, 0, 0), MaxLaunch: 10},
			desired: 11, launch: 10},
		"minCapacity from empty": {
			pool:    func(p *Pool) { p.MinCapacity = 3 },
			in:      Input{Demand: demand(0, 0, 0)},
			desired: 3, launch: 3},
		"maxHourlySpend at the edge": {
			pool:    func(p *Pool) { p.MaxHourlySpend = 0.3 },
			in:      Input{Demand: demand(10, 5, 0), Instances: busyN(5), UnitPrice: 0.03},
			desired: 15, launch: 5},
		"maxHourlySpend one unit short": {
			pool:    func(p *Pool) { p.MaxHourlySpend = 0.299 },
			in:      Input{Demand: demand(10, 5, 0), Instances: busyN(5), UnitPrice: 0.03},
			desired: 15, launch: 4},
		"maxHourlySpend without a unit price counts maxPrice per lightest unit": {
			pool:    func(p *Pool) { p.MaxPrice, p.MaxHourlySpend = 0.1, 0.45 },
			in:      Input{Demand: demand(10, 5, 0), Instances: busyN(5)},
			desired: 15, launch: 3},
		"no maxHourlySpend: a unit price caps nothing": {
			pool:    func(p *Pool) { p.MaxPrice = 0.1 },
			in:      Input{Demand: demand(10, 5, 0), Instances: busyN(5), UnitPrice: 0.03},
			desired: 15, launch: 10},
		"onDemandBase fills first": {
			pool:    func(p *Pool) { p.OnDemandBase, p.OnDemandFallback = 2, true },
			in:      Input{Demand: demand(5, 0, 0)},
			desired: 5, launch: 5, onDemand: 2},
		"onDemandBase already met": {
			pool:    func(p *Pool) { p.OnDemandBase = 2 },
			in:      Input{Demand: demand(5, 2, 0), Instances: []Instance{onDemand(inst("a", h, Busy)), onDemand(inst("b", h, Busy))}},
			desired: 7, launch: 5},

		// --- cooldowns ---
		"scale-out cooldown holds": {
			pool:    func(p *Pool) { p.ScaleOutCooldown = Duration(5 * time.Minute) },
			in:      Input{Demand: demand(3, 0, 0), LastScaleOut: now.Add(-5*time.Minute + time.Second)},
			desired: 3},
		"scale-out cooldown over": {
			pool:    func(p *Pool) { p.ScaleOutCooldown = Duration(5 * time.Minute) },
			in:      Input{Demand: demand(3, 0, 0), LastScaleOut: now.Add(-5 * time.Minute)},
			desired: 3, launch: 3},
		"scale-out cooldown still restores minCapacity": {
			pool:    func(p *Pool) { p.ScaleOutCooldown, p.MinCapacity = Duration(5*time.Minute), 1 },
			in:      Input{Demand: demand(3, 0, 0), LastScaleOut: now.Add(-time.Minute)},
			desired: 3, launch: 1},
		"scale-in cooldown holds": {
			pool: func(p *Pool) { p.ScaleInCooldown = Duration(5 * time.Minute) },
			in:   Input{Demand: demand(0, 0, 1), Instances: []Instance{inst("a", h, Idle)}, LastScaleIn: now.Add(-5*time.Minute + time.Second)}},
		"scale-in cooldown over": {
			pool: func(p *Pool) { p.ScaleInCooldown = Duration(5 * time.Minute) },
			in:   Input{Demand: demand(0, 0, 1), Instances: []Instance{inst("a", h, Idle)}, LastScaleIn: now.Add(-5 * time.Minute)},
			ends: []End{{"a", ReasonIdle}}},
		"no scale-in in a decision that launches": {
			in:      Input{Demand: demand(2, 0, 0), Instances: []Instance{idleFor(inst("warned-soon", h, Idle), time.Hour)}},
			desired: 2, launch: 1},

		// --- stale demand ---
		"stale demand holds: no scale-in": {
			in:      Input{Demand: Demand{At: now.Add(-2*time.Minute - time.Second)}, Instances: []Instance{inst("a", h, Idle), inst("b", h, Busy)}},
			desired: 2, hold: HoldStale},
		"demand exactly staleDemandAfter old is acted on": {
			in:      Input{Demand: Demand{Running: 1, At: now.Add(-2 * time.Minute)}, Instances: []Instance{inst("a", h, Idle), inst("b", h, Busy)}},
			desired: 1, ends: []End{{"a", ReasonIdle}}},
		"stale demand: no scale-out either": {
			in:      Input{Demand: Demand{Pending: 30, At: now.Add(-time.Hour)}, Instances: []Instance{inst("a", h, Busy)}},
			desired: 1, hold: HoldStale},
		"no demand yet: minCapacity only": {
			pool:    func(p *Pool) { p.MinCapacity = 2 },
			in:      Input{},
			desired: 2, launch: 2, hold: HoldStale},
		"stale demand still replaces an interrupted busy instance": {
			in:      Input{Demand: Demand{At: now.Add(-time.Hour)}, Instances: []Instance{noticed(inst("a", h, Busy), 0), inst("b", h, Busy)}},
			desired: 2, launch: 1, replacing: 1, hold: HoldStale},

		// --- interruptions ---
		"interrupted busy replaced before it ends": {
			in:      Input{Demand: demand(0, 2, 0), Instances: []Instance{noticed(inst("a", h, Busy), 30*time.Second), inst("b", h, Busy)}},
			desired: 2, launch: 1, replacing: 1},
		"interrupted idle ends now, replaced if needed": {
			pool:    func(p *Pool) { p.MinCapacity = 1 },
			in:      Input{Demand: demand(0, 0, 0), Instances: []Instance{noticed(inst("a", h, Idle), 0)}},
			desired: 1, launch: 1, ends: []End{{"a", ReasonInterrupted}}},
		"interrupted booting ends": {
			in:      Input{Demand: demand(1, 0, 0), Instances: []Instance{noticed(inst("a", 20*time.Second, Booting), 0)}},
			desired: 1, launch: 1, ends: []End{{"a", ReasonInterrupted}}},
		"replacement within maxCapacity: the interrupted still count": {
			pool:    func(p *Pool) { p.MaxCapacity = 2 },
			in:      Input{Demand: demand(0, 2, 0), Instances: []Instance{noticed(inst("a", h, Busy), 0), inst("b", h, Busy)}},
			desired: 2},
		"replacement ignores the scale-out cooldown": {
			pool:    func(p *Pool) { p.ScaleOutCooldown = Duration(time.Hour) },
			in:      Input{Demand: demand(1, 2, 0), Instances: []Instance{noticed(inst("a", h, Busy), 0), inst("b", h, Busy)}, LastScaleOut: now.Add(-time.Minute)},
			desired: 3, launch: 1, replacing: 1},

		// --- lifetime ---
		"maxLifetime recycles an idle instance in its last tenth, replaced": {
			pool:    func(p *Pool) { p.MinCapacity = 1 },
			in:      Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("old", 648*time.Minute, Idle), 0)}},
			desired: 1, launch: 1, ends: []End{{"old", ReasonLifetime}}},
		"maxLifetime: one second before the last tenth": {
			pool:    func(p *Pool) { p.MinCapacity = 1 },
			in:      Input{Demand: demand(0, 0, 1), Instances: []Instance{idleFor(inst("old", 648*time.Minute-time.Second, Idle), 0)}},
			desired: 1},
		"maxLifetime never ends a busy instance": {
			in:      Input{Demand: demand(0, 1, 0), Instances: []Instance{inst("old", 13*h, Busy)}},
			desired: 1},

		// --- drain and pause ---
		"drain ends idle and booting, keeps busy, launches nothing": {
			pool:    func(p *Pool) { p.Draining, p.MinCapacity = true, 2 },
			in:      Input{Demand: demand(5, 1, 1), Instances: []Instance{inst("busy", h, Busy), inst("idle", h, Idle), inst("boot", 10*time.Second, Booting)}},
			desired: 0, ends: []End{{"boot", ReasonDrain}, {"idle", ReasonDrain}}},
		"paused changes nothing": {
			pool:    func(p *Pool) { p.Paused = true },
			in:      Input{Demand: demand(5, 0, 1), Instances: []Instance{inst("idle", h, Idle), inst("stuck", h, Booting)}},
			desired: 1, hold: HoldPaused}, // the stuck one is not usable capacity, nor is it ended
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.in.Pool = basePool(t, tc.pool)
			tc.in.Now = now
			d := Decide(tc.in)
			if d.Desired != tc.desired || d.Launch.Capacity != tc.launch || d.Launch.OnDemand != tc.onDemand || d.Replacing != tc.replacing || d.Hold != tc.hold {
				t.Errorf("desired %d, launch %d (on-demand %d, replacing %d), hold %q; want %d, %d (%d, %d), %q",
					d.Desired, d.Launch.Capacity, d.Launch.OnDemand, d.Replacing, d.Hold, tc.desired, tc.launch, tc.onDemand, tc.replacing, tc.hold)
			}
			if !slices.Equal(d.End, tc.ends) {
				t.Errorf("ends %v; want %v", d.End, tc.ends)
			}
			if d.Launch.Capacity > 0 && (d.Launch.ClientToken == "" || len(d.Launch.Configs) != len(tc.in.Pool.LaunchConfigs)) {
				t.Errorf("a launch without a ClientToken or configs: %+v", d.Launch)
			}
			// Decide is pure: the same input decides the same.
			if again := Decide(tc.in); !reflect.DeepEqual(again, d) {
				t.Errorf("second decision differs:\n%+v\n%+v", d, again)
			}
		})
	}
}

func busyN(n int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		out[i] = inst(fmt.Sprintf("busy-%02d", i), time.Hour, Busy)
	}
	return out
}

func onDemand(i Instance) Instance { i.OnDemand = true; return i }

// apply carries d out on in's instances, as a reconciler would once EC2
// answered: launched units boot (weight 1 each), ended instances go.
func apply(in Input, d Decision) Input {
	out := in
	out.Instances = slices.DeleteFunc(slices.Clone(in.Instances), func(i Instance) bool {
		return slices.ContainsFunc(d.End, func(e End) bool { return e.ID == i.ID })
	})
	for n := range d.Launch.Capacity {
		out.Instances = append(out.Instances, Instance{ID: fmt.Sprintf("new-%d", n), State: Booting, Capacity: 1, Launched: in.Now, Price: 0.03, OnDemand: n < d.Launch.OnDemand})
	}
	if d.ScaledOut() {
		out.LastScaleOut = in.Now
		out.Epoch++
	}
	if d.ScaledIn() {
		out.LastScaleIn = in.Now
	}
	return out
}

// A decision carried out leaves nothing for the next one with the same
// demand: decisions are absolute, not deltas.
func TestDecideIdempotent(t *testing.T) {
	h := time.Hour
	tests := map[string]Input{
		"burst":              {Demand: demand(12, 3, 0), Instances: busyN(3)},
		"scale in":           {Demand: demand(0, 1, 3), Instances: []Instance{inst("a", h, Busy), inst("b", h, Idle), inst("c", 2*h, Idle), inst("d", 3*h, Idle)}},
		"interruption":       {Demand: demand(1, 2, 0), Instances: []Instance{noticed(inst("a", h, Busy), 0), inst("b", h, Busy), noticed(inst("c", h, Idle), 0)}},
		"recycle and boot":   {Demand: demand(2, 0, 1), Instances: []Instance{idleFor(inst("old", 12*h, Idle), 0), inst("stuck", h, Booting)}},
		"stale with minimum": {Demand: Demand{At: now.Add(-h)}},
		"on-demand base":     {Demand: demand(4, 0, 0)},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			in.Pool = basePool(t, func(p *Pool) { p.MinCapacity, p.OnDemandBase = 1, 2 })
			in.Now = now
			first := Decide(in)
			if !first.Changes() {
				t.Fatalf("the first decision changes nothing; the case tests nothing: %+v", first)
			}
			if again := Decide(in); !reflect.DeepEqual(again, first) {
				t.Fatalf("the same input decided twice differs:\n%+v\n%+v", first, again)
			}
			second := Decide(apply(in, first))
			if second.Changes() {
				t.Errorf("carried out, the decision asks for more: launch %+v, end %v (first: launch %d, end %v)", second.Launch, second.End, first.Launch.Capacity, first.End)
			}
			if second.Desired != first.Desired {
				t.Errorf("desired moved from %d to %d", first.Desired, second.Desired)
			}
		})
	}
}

func TestClientToken(t *testing.T) {
	base := ClientToken("linux-ci", "2026-12-01T00:00:00Z", 7)
	if len(base) > 64 {
		t.Errorf("token %q is %d characters; EC2 allows 64", base, len(base))
	}
	tests := map[string]struct {
		token string
		same  bool
	}{
		"same pool, incarnation, epoch": {ClientToken("linux-ci", "2026-12-01T00:00:00Z", 7), true},
		"next epoch":                    {ClientToken("linux-ci", "2026-12-01T00:00:00Z", 8), false},
		"re-created pool":               {ClientToken("linux-ci", "2026-12-02T00:00:00Z", 7), false},
		"other pool":                    {ClientToken("linux-ci2", "2026-12-01T00:00:00Z", 7), false},
		// The separator keeps name and incarnation apart.
		"shifted boundary": {ClientToken("linux-c", "i2026-12-01T00:00:00Z", 7), false},
	}
	for name, tc := range tests {
		if (tc.token == base) != tc.same {
			t.Errorf("%s: %q vs %q, same=%v", name, tc.token, base, tc.same)
		}
	}
	// The decision's token is the epoch's.
	in := Input{Pool: basePool(t, nil), Now: now, Demand: demand(1, 0, 0), Incarnation: "2026-12-01T00:00:00Z", Epoch: 7}
	if got := Decide(in).Launch.ClientToken; got != base {
		t.Errorf("decision token %q; want %q", got, base)
	}
}

// BenchmarkDecide is one decision for a pool at MaxCapacityLimit: a
// thousand instances, a third idle, some booting, some interrupted.
func BenchmarkDecide(b *testing.B) {
	in := Input{Now: now, Demand: demand(100, 600, 300)}
	p := Pool{Name: "big", TokenID: "tok_abcdefghijklmnopqrst", Region: "us-east-1", AMI: "ami-1",
		LaunchConfigs: []LaunchConfig{{InstanceType: "c6i.large"}}, MaxCapacity: MaxCapacityLimit}
	if err := p.Normalize(); err != nil {
		b.Fatal(err)
	}
	in.Pool = p
	for n := range MaxCapacityLimit {
		i := inst(fmt.Sprintf("i-%04d", n), time.Duration(n)*time.Minute, [3]State{Busy, Idle, Booting}[n%3])
		if n%50 == 0 {
			i = noticed(i, time.Second)
		}
		in.Instances = append(in.Instances, i)
	}
	for b.Loop() {
		Decide(in)
	}
}
