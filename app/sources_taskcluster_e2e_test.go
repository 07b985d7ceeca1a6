package app_test

import (
	"testing"

	faketc "github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
)

const (
	tcE2EQueue  = "proj-ci/linux"
	tcE2EClient = "project/ci/spotter"
	tcE2EToken  = "tc-e2e-access-token-CANARY-0123456789abcdef"
	// tcE2EGroup is the workers' workerGroup: their region, as
	// worker-manager's AWS provider names it.
	tcE2EGroup = "us-east-1"
)

// tcDriver runs tasks on the local Taskcluster: each agent slot of an
// instance is a worker (workerId <instance id>-<n>, as the generic-worker
// template names them) that claims one task at a time.
type tcDriver struct{ tc *faketc.Server }

// names: the queue's claimed list gives each task's workerId.
func (d *tcDriver) names() bool { return true }

func (d *tcDriver) queue(t *testing.T) string {
	t.Helper()
	id, err := d.tc.CreateTask(tcE2EQueue)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (d *tcDriver) agentsUp(_ *testing.T, instance string, n int) {
	for slot := 1; slot <= n; slot++ {
		d.tc.SetWorker(tcE2EQueue, tcE2EGroup, slotName(instance, slot), "running")
	}
}

// start claims the oldest pending task (a worker cannot pick one) and
// returns its id.
func (d *tcDriver) start(t *testing.T, _, instance string, slot int) string {
	t.Helper()
	id, err := d.tc.ClaimTask(tcE2EQueue, tcE2EGroup, slotName(instance, slot))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (d *tcDriver) finish(t *testing.T, task string) {
	t.Helper()
	if err := d.tc.ResolveTask(task); err != nil {
		t.Fatal(err)
	}
}

func (d *tcDriver) agentsDown(_ *testing.T, instance string, n int) {
	for slot := 1; slot <= n; slot++ {
		d.tc.SetWorker(tcE2EQueue, tcE2EGroup, slotName(instance, slot), "stopped")
	}
}

// TestSourceTaskclusterEndToEnd: polling the queue's pending and claimed
// counts and its claimed list (Hawk-signed, with the scopes the README
// lists) drives a pool from pending tasks to instances; the tasks are
// claimed by the instances' workers and resolved, and the idle instances
// end after idleTimeout, or each right after its last task when the pool
// terminates after the job.
func TestSourceTaskclusterEndToEnd(t *testing.T) {
	for name, ephemeral := range map[string]bool{"idle end": false, "terminate after job": true} {
		t.Run(name, func(t *testing.T) {
			ss := newSrcStack(t, "embedded")
			tc := faketc.Start(t)
			tc.SetClock(ss.clock.Now) // Hawk timestamps are serve's clock
			tc.AddClient(tcE2EClient, tcE2EToken, "queue:pending-count:"+tcE2EQueue, "queue:claimed-count:"+tcE2EQueue,
				"queue:claimed-list:"+tcE2EQueue, "worker-manager:list-workers:"+tcE2EQueue)
			tc.AddWorkerPool(tcE2EQueue)
			extra := `,"bootstrap":"generic-worker"`
			if ephemeral {
				extra += `,"terminateAfterJob":true`
			}
			ss.createPool(t, "tc-ci", extra, `{"taskcluster":{"rootUrl":"`+tc.RootURL+
				`","taskQueueId":"`+tcE2EQueue+`","clientId":"`+tcE2EClient+`","accessToken":"`+tcE2EToken+`"}}`)
			if ephemeral {
				ss.driveEphemeral(t, "tc-ci", 5, &tcDriver{tc: tc}, "generic-worker")
			} else {
				ss.driveToIdleEnd(t, "tc-ci", 6, &tcDriver{tc: tc}, "generic-worker")
			}
			if tc.Calls() == 0 {
				t.Error("the queue was never read")
			}
		})
	}
}
