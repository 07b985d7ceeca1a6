package awssim

import (
	"fmt"
	"time"
)

// StopInstances and StartInstances, as EC2 documents them: an EBS-backed
// on-demand instance stops (stopping, then stopped after PendingDelay) and
// starts again (pending, then running, with a new launch time); a spot
// instance may be stopped only if its spot request is persistent, which
// then waits disabled until the instance starts again. A stop frees the
// pool's capacity and a start takes it back.

func (s *Sim) stopInstances(c *call, x *xmlWriter) *apiError {
	return s.changeRunState(c, x, true)
}

func (s *Sim) startInstances(c *call, x *xmlWriter) *apiError {
	return s.changeRunState(c, x, false)
}

func (s *Sim) changeRunState(c *call, x *xmlWriter, stop bool) *apiError {
	ids := c.q.list("InstanceId")
	if len(ids) == 0 {
		return errMissing("InstanceId")
	}
	if stop && c.q.boolean("Hibernate") {
		return &apiError{Code: "UnsupportedHibernationConfiguration", Message: "The instance is not configured for hibernation."}
	}
	r := c.region
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(c.now)
	r.purge(c.now)
	ins, err := r.lookupInstances(ids)
	if err != nil {
		return err
	}
	// Every instance is checked before any changes, so one refusal
	// leaves the others as they were, as on EC2.
	need := map[poolKey]int{}
	for _, in := range ins {
		if err := r.checkRunStateChange(in, c.now, stop); err != nil {
			return err
		}
		if !stop && in.state(c.now, s.opts.PendingDelay) == stateStopped {
			need[poolKey{in.az, in.itype}]++
		}
	}
	for _, in := range ins {
		k := poolKey{in.az, in.itype}
		if n := need[k]; n > 0 && r.pool(in.az, in.itype).available(in.spot()) < n {
			return &apiError{Code: "InsufficientInstanceCapacity", Status: 500,
				Message: fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", in.itype, in.az)}
		}
	}
	if c.q.boolean("DryRun") {
		return errDryRun()
	}
	x.open("instancesSet")
	for _, in := range ins {
		prev := in.state(c.now, s.opts.PendingDelay)
		if stop {
			r.userStop(in, c.now)
		} else {
			r.userStart(in, c.now)
		}
		cur := in.state(c.now, s.opts.PendingDelay)
		writeStateChange(x, in.id, prev, cur)
	}
	x.close("instancesSet")
	return nil
}

// checkRunStateChange refuses what EC2 refuses: stopping a spot instance
// of a one-time request (or of a fleet, whose requests are one-time),
// stopping or starting an instance that is shutting down or gone, and
// starting one that is still stopping. Stopping a stopped instance and
// starting a running one succeed and change nothing.
func (r *region) checkRunStateChange(in *instance, now time.Time, stop bool) *apiError {
	st := in.state(now, r.sim.opts.PendingDelay)
	if st == stateShuttingDown || st == stateTerminated {
		verb := "started"
		if stop {
			verb = "stopped"
		}
		return &apiError{Code: "IncorrectInstanceState", Message: fmt.Sprintf("This instance '%s' is not in a state from which it can be %s.", in.id, verb)}
	}
	if stop && in.spot() {
		sr := r.spotRequests[in.spotRequestID]
		if sr == nil || sr.Type != "persistent" {
			return &apiError{Code: "UnsupportedOperation", Message: fmt.Sprintf("You can't stop the Spot Instance '%s' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.", in.id)}
		}
	}
	if !stop && st == stateStopping {
		return &apiError{Code: "IncorrectInstanceState", Message: fmt.Sprintf("The instance '%s' is not in a state from which it can be started.", in.id)}
	}
	return nil
}

// userStop stops a live instance; a stopped one is left alone.
func (r *region) userStop(in *instance, now time.Time) {
	if !in.stoppedAt.IsZero() {
		return
	}
	r.stopInstance(in, now, stateReason{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"})
	if sr := r.spotRequests[in.spotRequestID]; sr != nil {
		sr.State = "disabled"
		sr.setStatus(now, "instance-stopped-by-user")
	}
}

// userStart starts a stopped instance: it is pending again and its launch
// time is the start, as EC2 reports it. A live one is left alone.
func (r *region) userStart(in *instance, now time.Time) {
	if in.stoppedAt.IsZero() {
		return
	}
	in.stoppedAt = time.Time{}
	in.launchTime = now
	in.reason = stateReason{}
	r.booted(in, now)
	r.resumeRisk(in, now)
	r.pool(in.az, in.itype).take(in.spot(), 1)
	if sr := r.spotRequests[in.spotRequestID]; sr != nil {
		sr.State = "active"
		sr.setStatus(now, "fulfilled")
	}
}

// writeStateChange writes one item of the instancesSet that Terminate,
// Stop and StartInstances answer with: the instance's state before and after.
func writeStateChange(x *xmlWriter, id, prev, cur string) {
	x.open("item")
	x.leaf("instanceId", id)
	x.open("currentState")
	x.int("code", stateCodes[cur])
	x.leaf("name", cur)
	x.close("currentState")
	x.open("previousState")
	x.int("code", stateCodes[prev])
	x.leaf("name", prev)
	x.close("previousState")
	x.close("item")
}
