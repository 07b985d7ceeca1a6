package awssim

import (
	"container/heap"
	"fmt"
	"math"
	"time"
)

// What the clock can make due for an instance. States are derived from
// the clock when read; these are the moments that also change something
// else (a spot request, the capacity, the event log), so settle carries
// them out in time order however far the clock jumped.
type dueKind uint8

const (
	dueRunning   dueKind = iota // boot finished: a state-change event
	dueRebalance                // the rebalance recommendation
	dueNotice                   // the two-minute interruption notice
	dueEnd                      // the interruption itself
	dueGone                     // shutting-down → terminated, stopping → stopped
)

type dueItem struct {
	at   time.Time
	seq  uint64 // push order, so equal times keep it
	kind dueKind
	gen  uint32 // the instance's riskGen when pushed; a stale one is skipped
	in   *instance
}

// dueQueue is a min-heap by (at, seq).
type dueQueue []dueItem

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = dueItem{}
	*q = old[:len(old)-1]
	return it
}

func (r *region) push(kind dueKind, at time.Time, in *instance) {
	r.dueSeq++
	heap.Push(&r.due, dueItem{at: at, seq: r.dueSeq, kind: kind, gen: in.riskGen, in: in})
}

// settle carries out, in time order, what the clock has made due since
// the last call. It must be called with r.mu held before any read or write
// of instances. Each item is carried out at its own time, not at now, so
// the result does not depend on how the clock got here: in one jump or in
// many small steps.
func (r *region) settle(now time.Time) {
	for len(r.due) > 0 && !now.Before(r.due[0].at) {
		r.fire(heap.Pop(&r.due).(dueItem))
	}
}

// liveAt reports whether an instance was launched and neither ended nor
// stopped by t.
func (in *instance) liveAt(t time.Time) bool {
	if t.Before(in.launchTime) {
		return false
	}
	if !in.terminatedAt.IsZero() && !in.terminatedAt.After(t) {
		return false
	}
	return in.stoppedAt.IsZero() || in.stoppedAt.After(t)
}

func (r *region) fire(it dueItem) {
	in := it.in
	if in.purged {
		return
	}
	switch it.kind {
	case dueRunning:
		if in.liveAt(it.at) && it.at.Equal(in.launchTime.Add(in.bootDelay)) {
			r.logState(in, it.at, stateRunning)
		}
	case dueRebalance:
		if it.gen != in.riskGen || !in.liveAt(it.at) || !in.rebalanceAt.IsZero() {
			return
		}
		in.rebalanceAt = it.at
		r.logEvent(in, it.at, detailRebalance, "", "")
		r.push(dueNotice, it.at.Add(r.lead.draw(r.sim.unit("lead1", in.id), r.sim.unit("lead2", in.id))), in)
	case dueNotice:
		if it.gen != in.riskGen || !in.liveAt(it.at) || !in.noticeAt.IsZero() {
			return
		}
		r.notice(in, it.at)
	case dueEnd:
		if it.at.Equal(in.interruptAt) && in.liveAt(it.at) {
			r.interrupt(in, it.at)
		}
	case dueGone:
		r.gone(in, it.at)
	}
}

// interrupt ends a noticed spot instance at t as its interruption
// behaviour says: stopped (stop, hibernate) or terminated.
func (r *region) interrupt(in *instance, t time.Time) {
	if in.interruptionBehavior == "stop" || in.interruptionBehavior == "hibernate" {
		r.stopInstance(in, t, stateReason{"Server.SpotInstanceShutdown", "Server.SpotInstanceShutdown: Spot instance shutdown"})
		return
	}
	r.terminateInstance(in, t, stateReason{"Server.SpotInstanceTermination", "Server.SpotInstanceTermination: Spot instance termination"}, "instance-terminated-no-capacity")
}

// gone moves a terminating or stopping instance to terminated or stopped
// once PendingDelay has passed since it began, unless it changed since.
func (r *region) gone(in *instance, t time.Time) {
	delay := r.sim.opts.PendingDelay
	switch {
	case !in.terminatedAt.IsZero() && t.Equal(in.terminatedAt.Add(delay)):
		r.logState(in, t, stateTerminated)
	case in.terminatedAt.IsZero() && !in.stoppedAt.IsZero() && t.Equal(in.stoppedAt.Add(delay)):
		r.logState(in, t, stateStopped)
	}
}

// notice gives a spot instance its interruption notice at t: the spot
// request is marked, the instance-action appears in its metadata, and the
// interruption follows after Options.InterruptionNotice (at once for
// hibernation, which AWS starts without the two minutes).
func (r *region) notice(in *instance, t time.Time) {
	in.noticeAt = t
	in.interruptAt = t.Add(r.sim.opts.InterruptionNotice)
	if in.interruptionBehavior == "hibernate" {
		in.interruptAt = t
	}
	r.push(dueEnd, in.interruptAt, in)
	if sr := r.spotRequests[in.spotRequestID]; sr != nil {
		code := "marked-for-termination"
		if in.interruptionBehavior == "stop" || in.interruptionBehavior == "hibernate" {
			code = "marked-for-stop"
		}
		sr.setStatus(t, code)
	}
	r.logEvent(in, t, detailInterruption, in.interruptionBehavior, "")
}

// booted records a launch (or a start): pending now, running after the
// instance's boot delay.
func (r *region) booted(in *instance, now time.Time) {
	r.logState(in, now, statePending)
	r.push(dueRunning, now.Add(in.bootDelay), in)
}

// armRisk gives a new spot instance its share of the interruption rate:
// an exponential hazard drawn once from the seed and the id, spent at the
// region's rate from launch. When the hazard is spent the instance gets its
// rebalance recommendation, then its notice.
func (r *region) armRisk(in *instance, now time.Time) {
	in.hazard = -math.Log(1 - r.sim.unit("hazard", in.id))
	in.hazardFrom = now
	r.scheduleRisk(in)
}

// resumeRisk starts a spot instance's hazard again when it starts: what it
// had left when it stopped, or, if it was stopped by an interruption, a
// fresh draw (keyed by the start time too), for it can be interrupted again.
func (r *region) resumeRisk(in *instance, now time.Time) {
	if !in.spot() {
		return
	}
	if !in.noticeAt.IsZero() || !in.rebalanceAt.IsZero() {
		in.rebalanceAt, in.noticeAt, in.interruptAt = time.Time{}, time.Time{}, time.Time{}
		in.hazard = -math.Log(1 - r.sim.unit("hazard", fmt.Sprintf("%s/%d", in.id, now.UnixNano())))
	}
	in.hazardFrom = now
	r.scheduleRisk(in)
}

// maxRiskWait is how far ahead a rebalance is scheduled at all; beyond it
// (a rate near zero) the instance is simply never interrupted.
const maxRiskWait = 10 * 366 * 24 * time.Hour

func (r *region) scheduleRisk(in *instance) {
	in.riskGen++
	in.hazardRate = r.rate
	if r.rate <= 0 {
		return
	}
	hours := in.hazard / r.rate
	if hours*float64(time.Hour) >= float64(maxRiskWait) {
		return
	}
	r.push(dueRebalance, in.hazardFrom.Add(time.Duration(hours*float64(time.Hour))), in)
}

// pauseRisk stops a spot instance's hazard at t, when it stops: a stopped
// instance is not interrupted, and what it has left is kept for a start.
func (r *region) pauseRisk(in *instance, t time.Time) {
	if !in.spot() || !in.rebalanceAt.IsZero() || !in.noticeAt.IsZero() {
		return
	}
	if t.After(in.hazardFrom) {
		in.hazard = max(in.hazard-in.hazardRate*t.Sub(in.hazardFrom).Hours(), 0)
		in.hazardFrom = t
	}
	in.riskGen++
}

// setRate changes the region's interruption rate at now. What is due is
// carried out first at the old rate; then every spot instance still
// waiting for its rebalance keeps the hazard it has not yet spent, to be
// spent at the new rate, so a rate that changes hour by hour (office-hours
// peaks) is followed exactly.
func (r *region) setRate(rate float64, now time.Time) {
	r.settle(now)
	r.rate = rate
	for _, in := range r.order {
		if in.purged || !in.spot() || !in.rebalanceAt.IsZero() || !in.noticeAt.IsZero() || !in.liveAt(now) {
			continue
		}
		if now.After(in.hazardFrom) {
			in.hazard = max(in.hazard-in.hazardRate*now.Sub(in.hazardFrom).Hours(), 0)
			in.hazardFrom = now
		}
		r.scheduleRisk(in)
	}
}

// unit is a uniform draw in [0, 1) that depends only on the seed, what it
// is for and the instance, so runs replay exactly.
func (s *Sim) unit(what, id string) float64 {
	return unit(mix64(uint64(s.opts.Seed) ^ stableHash(what+"/"+id)))
}
