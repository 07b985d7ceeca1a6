package pool

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// State is where an instance is in its life, as the reconciler sees it.
type State string

const (
	// Booting: launched, its agent not yet registered.
	Booting State = "booting"
	// Idle: registered, running no job.
	Idle State = "idle"
	// Busy: running at least one job. Never ended by a decision.
	Busy State = "busy"
	// Done: a terminateAfterJob instance whose agents have each run their
	// job. It takes no more, so it is no capacity, and a decision ends it
	// at once (its agents power it off too; this is for one that does not).
	Done State = "done"
)

// Instance is one live instance of the pool.
type Instance struct {
	ID           string    `json:"id"`
	InstanceType string    `json:"instanceType"`
	State        State     `json:"state"`
	Capacity     int       `json:"capacity"` // job slots: its launch config's weight
	Launched     time.Time `json:"launched"`
	// IdleSince is when it last became idle; zero counts from Launched.
	IdleSince time.Time `json:"idleSince,omitzero"`
	Price     float64   `json:"price"` // $/instance-hour
	OnDemand  bool      `json:"onDemand,omitempty"`
	// Interrupted is when EC2 sent a rebalance recommendation or an
	// interruption notice; zero when none. It takes no new job.
	Interrupted time.Time `json:"interrupted,omitzero"`
}

// Demand is what the queue reported (POST /v1/pools/{name}/demand).
// Idle is kept for metrics and the audit: Decide takes capacity from the
// instances, which say which ones are idle.
type Demand struct {
	Pending int       `json:"pending"`
	Running int       `json:"running"`
	Idle    int       `json:"idle"`
	At      time.Time `json:"at"` // when it was reported
}

// Input is everything Decide reads. Decide reads nothing else (no clock,
// no randomness), so the same Input always gives the same Decision.
type Input struct {
	Pool      Pool // normalized
	Demand    Demand
	Instances []Instance
	Now       time.Time
	// LastScaleOut and LastScaleIn are the last decisions that launched or
	// ended idle capacity (zero: never), for the cooldowns.
	LastScaleOut, LastScaleIn time.Time
	// Incarnation tells this pool from an earlier one of the same name
	// (its creation time, say): EC2 remembers a ClientToken for a day.
	Incarnation string
	// Epoch is the pool's decision epoch: the number of launches whose
	// answer (instances or an error) the reconciler has recorded. It moves
	// only after that record, so a retry after a crash, or a second
	// replica, sends the same ClientToken and EC2 launches once. EC2's
	// IdempotentParameterMismatch (the retry asked for another capacity)
	// is an answer too: the first launch's instances are listed by then.
	Epoch uint64
	// MaxLaunch caps one launch's capacity units, so it starts at most
	// that many instances: the token's maxCount. 0: no cap. A bigger need
	// is met over the next decisions.
	MaxLaunch int
	// UnitPrice is what one capacity unit of a new launch is expected to
	// cost per hour (the cheapest allowed pool's price over its weight);
	// 0 when unknown, and then maxHourlySpend counts maxPrice over the
	// lightest weight, the most a unit can cost.
	UnitPrice float64
}

// Reason says why a decision ends an instance.
type Reason string

const (
	ReasonIdle        Reason = "idle_timeout" // surplus, idle for idleTimeout
	ReasonLifetime    Reason = "max_lifetime" // recycled while idle near maxLifetime
	ReasonBootTimeout Reason = "boot_timeout" // not registered within bootTimeout
	ReasonInterrupted Reason = "interrupted"  // has a notice and no job
	ReasonJobDone     Reason = "job_done"     // terminateAfterJob: its jobs are done
	ReasonDrain       Reason = "drain"
)

// End is one instance to terminate.
type End struct {
	ID     string `json:"id"`
	Reason Reason `json:"reason"`
}

// Launch is one CreateFleet: TotalTargetCapacity = Capacity, an override
// per config (and subnet) with WeightedCapacity = its Capacity, OnDemand
// of the units on-demand (the on-demand base), the rest spot.
type Launch struct {
	Capacity    int            `json:"capacity"`
	OnDemand    int            `json:"onDemand"`
	Configs     []LaunchConfig `json:"configs,omitempty"`
	ClientToken string         `json:"clientToken,omitempty"`
}

// Hold reasons: the decision launches and ends nothing for demand.
const (
	HoldPaused = "paused"
	// HoldStale: the demand is older than staleDemandAfter (or none came
	// yet). The pool keeps its capacity (interrupted capacity replaced,
	// minCapacity kept) and does not scale in blind.
	HoldStale = "stale_demand"
)

// Decision is absolute: it says what the pool should be, given the Input,
// not what to change relative to an earlier decision. Carried out, the
// same Input plus its effects decides nothing more.
//
// The JSON names are for the audit event a reconciler writes per decision.
type Decision struct {
	Epoch   uint64 `json:"epoch"`
	Hold    string `json:"hold,omitempty"` // why demand was not acted on; "" when it was
	Desired int    `json:"desired"`        // capacity units the pool aims at
	// Capacity is the usable capacity before the decision: booting, idle
	// and busy instances without an interruption notice.
	Capacity int    `json:"capacity"`
	Launch   Launch `json:"launch"`
	End      []End  `json:"end,omitempty"`
	// Replacing is the part of Launch.Capacity that replaces busy
	// instances with an interruption notice, before they end.
	Replacing int `json:"replacing,omitempty"`
}

// ScaledOut reports whether d launches (the next LastScaleOut).
func (d Decision) ScaledOut() bool { return d.Launch.Capacity > 0 }

// ScaledIn reports whether d ends surplus idle capacity (the next LastScaleIn).
func (d Decision) ScaledIn() bool {
	return slices.ContainsFunc(d.End, func(e End) bool { return e.Reason == ReasonIdle || e.Reason == ReasonDrain })
}

// Changes reports whether carrying d out changes anything.
func (d Decision) Changes() bool { return d.Launch.Capacity > 0 || len(d.End) > 0 }

// BillingMinimum is EC2's minimum charge for a Linux instance (per-second
// billing, 60 s at least).
const BillingMinimum = time.Minute

// recycleShare of maxLifetime is the last stretch in which an idle
// instance is recycled rather than given a job the TTL guard may cut.
const recycleShare = 10

// Decide is the reconciler's decision for one pool. Desired capacity is
// every running job plus scalingRatio × the pending ones, within
// [minCapacity, maxCapacity]; launches cover what usable capacity
// (booting included) lacks, so a job waits for a boot only when no
// booting or idle slot is there for it. Idle capacity above desired ends
// once idle for idleTimeout, most expensive per unit first, then oldest.
// README "Pools benchmark" says why this formula and not the ancestors'.
func Decide(in Input) Decision {
	p, now := in.Pool, in.Now
	f := tally(in)
	d := Decision{Epoch: in.Epoch, Capacity: f.capacity}
	if p.Paused {
		return Decision{Epoch: in.Epoch, Hold: HoldPaused, Desired: f.capacity, Capacity: f.capacity}
	}
	d.End = f.ends

	stale := in.Demand.At.IsZero() || now.Sub(in.Demand.At) > time.Duration(p.StaleDemandAfter)
	switch {
	case p.Draining:
		for _, i := range append(f.booting, f.idle...) {
			d.End = append(d.End, End{i.ID, ReasonDrain})
		}
		return d
	case stale:
		d.Hold = HoldStale
		d.Desired = clamp(f.capacity+f.warnedBusy, p.MinCapacity, p.MaxCapacity)
	default:
		pending := int(math.Ceil(p.ScalingRatio * float64(max(0, in.Demand.Pending))))
		d.Desired = clamp(max(0, in.Demand.Running)+pending, p.MinCapacity, p.MaxCapacity)
	}

	// Recycle idle instances near maxLifetime; the launch below replaces
	// them if desired still needs them.
	recycleAt := time.Duration(p.MaxLifetime) - time.Duration(p.MaxLifetime)/recycleShare
	idle := slices.DeleteFunc(f.idle, func(i Instance) bool {
		if now.Sub(i.Launched) < recycleAt {
			return false
		}
		d.End = append(d.End, End{i.ID, ReasonLifetime})
		f.capacity -= i.Capacity
		return true
	})

	d.Launch = launch(in, d.Desired, f)
	d.Replacing = min(d.Launch.Capacity, f.warnedBusy)
	if d.Launch.Capacity == 0 && !stale && now.Sub(in.LastScaleIn) >= time.Duration(p.ScaleInCooldown) {
		d.End = append(d.End, scaleIn(in, idle, f.capacity-d.Desired)...)
	}
	return d
}

// fleet is the pool's instances sorted for a decision.
type fleet struct {
	idle, booting []Instance // usable: no notice, booted in time
	capacity      int        // usable units
	onDemand      int        // usable on-demand units
	warnedBusy    int        // units busy under an interruption notice
	spend         float64    // $/h of all that is not ended
	ends          []End      // boot timeouts, idle or booting instances with a notice, done ones
}

func tally(in Input) fleet {
	var f fleet
	for _, i := range in.Instances {
		switch {
		case i.State == Done:
			f.ends = append(f.ends, End{i.ID, ReasonJobDone})
			continue
		case i.State == Booting && in.Now.Sub(i.Launched) >= time.Duration(in.Pool.BootTimeout):
			f.ends = append(f.ends, End{i.ID, ReasonBootTimeout})
			continue
		case !i.Interrupted.IsZero() && i.State != Busy:
			f.ends = append(f.ends, End{i.ID, ReasonInterrupted})
			continue
		}
		f.spend += i.Price
		if !i.Interrupted.IsZero() {
			f.warnedBusy += i.Capacity // its job may still end in time: left to run
			continue
		}
		f.capacity += i.Capacity
		if i.OnDemand {
			f.onDemand += i.Capacity
		}
		switch i.State {
		case Idle:
			f.idle = append(f.idle, i)
		case Booting:
			f.booting = append(f.booting, i)
		}
	}
	return f
}

// scaleIn ends surplus idle capacity idle for idleTimeout, most expensive
// per unit first (it saves most), then oldest (nearest its end of life,
// and the longest exposed to interruption).
func scaleIn(in Input, idle []Instance, surplus int) []End {
	var ends []End
	slices.SortFunc(idle, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(b.Price/float64(max(1, b.Capacity)), a.Price/float64(max(1, a.Capacity))),
			a.Launched.Compare(b.Launched), strings.Compare(a.ID, b.ID))
	})
	for _, i := range idle {
		since := i.IdleSince
		if since.IsZero() {
			since = i.Launched
		}
		// Ending an instance before EC2's minimum charge saves nothing:
		// keep it for a job that may come until then.
		if i.Capacity <= surplus && in.Now.Sub(since) >= time.Duration(in.Pool.IdleTimeout) && in.Now.Sub(i.Launched) >= BillingMinimum {
			ends = append(ends, End{i.ID, ReasonIdle})
			surplus -= i.Capacity
		}
	}
	return ends
}

// launch sizes the scale-out: what desired lacks, within maxCapacity
// (interrupted instances still count until they end), MaxLaunch, the
// scale-out cooldown (which never delays a replacement or minCapacity)
// and maxHourlySpend.
func launch(in Input, desired int, f fleet) Launch {
	p, capacity, warnedBusy := in.Pool, f.capacity, f.warnedBusy
	n := max(0, desired-capacity)
	n = min(n, max(0, p.MaxCapacity-capacity-warnedBusy))
	if in.MaxLaunch > 0 {
		n = min(n, in.MaxLaunch)
	}
	if n > 0 && !in.LastScaleOut.IsZero() && in.Now.Sub(in.LastScaleOut) < time.Duration(p.ScaleOutCooldown) {
		n = min(n, warnedBusy+max(0, p.MinCapacity-capacity))
	}
	if p.MaxHourlySpend > 0 && n > 0 {
		unit := in.UnitPrice
		if unit <= 0 {
			minWeight := MaxWeight
			for _, lc := range p.LaunchConfigs {
				minWeight = min(minWeight, lc.Capacity)
			}
			unit = p.MaxPrice / float64(minWeight)
		}
		if unit > 0 {
			n = min(n, int(math.Floor((p.MaxHourlySpend-f.spend)/unit+1e-9)))
		}
	}
	if n <= 0 {
		return Launch{}
	}
	return Launch{
		Capacity:    n,
		OnDemand:    min(n, max(0, p.OnDemandBase-f.onDemand)),
		Configs:     slices.Clone(p.LaunchConfigs),
		ClientToken: ClientToken(p.Name, in.Incarnation, in.Epoch),
	}
}

// ClientToken is the EC2 ClientToken of a pool's launch at an epoch: the
// same pool, incarnation and epoch give the same token, so EC2 starts the
// fleet once however often the decision is carried out. 56 characters,
// under EC2's 64.
func ClientToken(pool, incarnation string, epoch uint64) string {
	sum := sha256.Sum256([]byte(pool + "\x00" + incarnation + "\x00" + strconv.FormatUint(epoch, 10)))
	return "spp-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }
