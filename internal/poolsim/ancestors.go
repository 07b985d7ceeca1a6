package poolsim

import (
	"math"
	"sort"
	"time"
)

// The ancestors as they ship today, modelled from /work/shared/notes/peers.md
// §3–§5 and §7 ("Modelling facts"), revisions taskcluster 9d59eb59,
// buildkite-agent-scaler 49c4145, elastic-ci-stack b4948d82,
// terraform-aws-github-runner 4475534a. One deliberate change for all
// three: the same MaxCapacity (200 instances), since the shipped caps
// (Elastic CI Stack MaxSize 10, RUNNERS_MAXIMUM_COUNT 3) would starve a
// 50-job matrix and measure the cap, not the controller.

// TaskclusterWM is worker-manager's AWS provider: Estimator.simple every
// 10 s (src/provisioner.js:38-42) plus the worker scanner's termination
// advice (#computeTerminationDecisions, since v96.5.0).
type TaskclusterWM struct {
	MinCapacity, MaxCapacity int
	// ScalingRatio: "1.0 means 1 capacity will be added for each pending
	// task" (schemas/constants.yml:177-184).
	ScalingRatio float64
	// ScanEvery is the worker scanner's period (about 20 s).
	ScanEvery time.Duration
	// QueueInactivityTimeout removes a worker idle this long
	// (provider.js:370-426, default 7,200 s); the termination advice
	// makes it matter little.
	QueueInactivityTimeout time.Duration

	lastScan time.Time
	marked   map[string]bool
}

// NewTaskclusterWM is worker-manager with the defaults above.
func NewTaskclusterWM(maxCapacity int) *TaskclusterWM {
	return &TaskclusterWM{MaxCapacity: maxCapacity, ScalingRatio: 1, ScanEvery: 20 * time.Second, QueueInactivityTimeout: 2 * time.Hour}
}

func (*TaskclusterWM) Name() string { return "taskcluster worker-manager" }

func (c *TaskclusterWM) Decide(o Observation) Decision {
	n := o.counts()
	// src/estimator.js: booting workers count both in existingCapacity and
	// in requestedCapacity, so demand that arrives while they boot waits
	// for them (peers.md §7).
	existing := n.booting + n.registered
	requested := n.booting
	totalIdle := max(0, existing-o.Running)                                              // :17
	adjustedPending := max(0, o.Pending-totalIdle)                                       // :20
	totalNonStopped := existing                                                          // stopping: none linger here
	desired := int(math.Ceil(float64(adjustedPending)*c.ScalingRatio)) + totalNonStopped // :35
	desired = max(c.MinCapacity, min(desired, c.MaxCapacity))
	toSpawn := max(0, desired-totalNonStopped)
	d := Decision{Launch: max(toSpawn-requested, 0), Desired: desired} // :135, :153

	// Termination advice: keep the newest pending+claimed registered
	// workers, mark the rest; generic-worker exits when idle and marked.
	if o.Now.Sub(c.lastScan) >= c.ScanEvery {
		c.lastScan = o.Now
		regs := make([]InstanceView, 0, len(o.Instances))
		for _, in := range o.Instances {
			if !in.Booting {
				regs = append(regs, in)
			}
		}
		sort.SliceStable(regs, func(i, j int) bool { return regs[i].Launched.After(regs[j].Launched) })
		keep := o.Pending + o.Running
		c.marked = map[string]bool{}
		for _, in := range regs {
			if keep > 0 {
				keep -= in.Capacity
				continue
			}
			c.marked[in.ID] = true
		}
	}
	for _, in := range o.Instances {
		idle := !in.Booting && in.Busy == 0
		if idle && (c.marked[in.ID] || o.Now.Sub(in.IdleSince) >= c.QueueInactivityTimeout) {
			d.Terminate = append(d.Terminate, in.ID)
		}
	}
	return d
}

// BuildkiteElastic is buildkite-agent-scaler (scaler/scaling_calculator.go,
// scaler/scaler.go) driving the Elastic CI Stack's ASG with the stack's
// defaults: standard mode, ScaleOutCooldownPeriod 300 s, scale-in disabled
// in the scaler (instances self-terminate after ScaleInIdlePeriod 600 s
// with --should-decrement-desired-capacity), INSTANCE_BUFFER 0, the ASG
// replacing an interrupted instance at once (peers.md §4, §7).
type BuildkiteElastic struct {
	AgentsPerInstance     int
	MinSize, MaxSize      int
	ScaleOutFactor        float64
	ScaleOutCooldown      time.Duration
	AvailabilityThreshold float64
	InstanceBuffer        int
	ScaleInIdlePeriod     time.Duration
	// PollEvery is how often the scaler reads Buildkite's metrics. The
	// Lambda runs each minute and polls within it; 10 s is assumed here.
	PollEvery time.Duration

	asgDesired   int
	lastScaleOut time.Time
	lastPoll     time.Time
}

// NewBuildkiteElastic is the stack with its defaults and MaxSize maxSize.
func NewBuildkiteElastic(maxSize, agentsPerInstance int) *BuildkiteElastic {
	return &BuildkiteElastic{
		AgentsPerInstance: agentsPerInstance, MaxSize: maxSize, ScaleOutFactor: 1,
		ScaleOutCooldown: 300 * time.Second, AvailabilityThreshold: 0.5,
		ScaleInIdlePeriod: 600 * time.Second, PollEvery: 10 * time.Second,
	}
}

func (*BuildkiteElastic) Name() string { return "buildkite elastic stack" }

func (c *BuildkiteElastic) Decide(o Observation) Decision {
	var d Decision
	live := 0
	for _, in := range o.Instances {
		// The agent's own scale-in: every agent idle ScaleInIdlePeriod,
		// then terminate and decrement the ASG's desired capacity.
		if !in.Booting && in.Busy == 0 && !in.IdleSince.IsZero() && o.Now.Sub(in.IdleSince) >= c.ScaleInIdlePeriod {
			d.Terminate = append(d.Terminate, in.ID)
			c.asgDesired = max(c.MinSize, c.asgDesired-1)
			continue
		}
		live++
	}
	if o.Now.Sub(c.lastPoll) >= c.PollEvery {
		c.lastPoll = o.Now
		n := o.counts()
		required := o.Pending + o.Running // scheduled + running (INCLUDE_WAITING off), :100-110
		desired := min(ceilDiv(required, c.AgentsPerInstance), c.MaxSize)
		if required > 0 && c.asgDesired > 0 { // availability boost, :117-150
			online := float64(n.registered) / float64(c.asgDesired*c.AgentsPerInstance)
			if online < c.AvailabilityThreshold && live == c.asgDesired {
				desired = max(desired, c.asgDesired+1)
			}
			desired += min(c.InstanceBuffer, ceilDiv(required, c.AgentsPerInstance)) // scaler.go:190-227
		}
		desired = max(c.MinSize, min(desired, c.MaxSize)) // :229-236
		if desired > c.asgDesired && o.Now.Sub(c.lastScaleOut) >= c.ScaleOutCooldown {
			step := int(math.Ceil(float64(desired-c.asgDesired) * c.ScaleOutFactor))
			c.asgDesired = min(c.asgDesired+step, c.MaxSize)
			c.lastScaleOut = o.Now
		}
		// Scale-in is disabled in the scaler (DisableScaleIn true).
	}
	// The ASG keeps asgDesired instances, replacing interrupted ones.
	d.Launch = max(0, c.asgDesired-live)
	d.Desired = c.asgDesired * c.AgentsPerInstance
	return d
}

// GitHubEphemeral is terraform-aws-github-runner with ephemeral runners:
// a workflow_job webhook per queued job, delayed delay_webhook_event
// (30 s) in SQS, one runner launched per message without checking the job
// is still queued (enable_job_queued_check is off for ephemeral runners),
// newRunners = min(scaleUp, maximum − current) (scale-up.ts:260-278); a
// runner takes one job and its instance ends; scale-down every 5 min
// removes idle runners older than minimum_running_time_in_minutes (5). A
// runner lost before it takes its job is not replaced (job_retry off).
type GitHubEphemeral struct {
	MaxRunners         int
	WebhookDelay       time.Duration
	ScaleDownEvery     time.Duration
	MinimumRunningTime time.Duration

	inbox         []time.Time // messages due at
	lastScaleDown time.Time
}

// NewGitHubEphemeral is the module's defaults with RUNNERS_MAXIMUM_COUNT maxRunners.
func NewGitHubEphemeral(maxRunners int) *GitHubEphemeral {
	return &GitHubEphemeral{MaxRunners: maxRunners, WebhookDelay: 30 * time.Second, ScaleDownEvery: 5 * time.Minute, MinimumRunningTime: 5 * time.Minute}
}

func (*GitHubEphemeral) Name() string    { return "github runners (ephemeral)" }
func (*GitHubEphemeral) Ephemeral() bool { return true }

func (c *GitHubEphemeral) Decide(o Observation) Decision {
	d := Decision{Desired: -1}
	for _, q := range o.Queued {
		c.inbox = append(c.inbox, q.Add(c.WebhookDelay))
	}
	due := 0
	for due < len(c.inbox) && !c.inbox[due].After(o.Now) {
		due++
	}
	scaleDown := o.Now.Sub(c.lastScaleDown) >= c.ScaleDownEvery
	if scaleDown {
		c.lastScaleDown = o.Now
	}
	current := 0
	for _, in := range o.Instances {
		idle := !in.Booting && in.Busy == 0
		switch {
		case idle && in.JobsDone > 0: // ephemeral: done after one job
			d.Terminate = append(d.Terminate, in.ID)
		case idle && scaleDown && o.Now.Sub(in.Launched) >= c.MinimumRunningTime:
			d.Terminate = append(d.Terminate, in.ID)
		default:
			current++
		}
	}
	if due > 0 {
		n := due
		if c.MaxRunners >= 0 {
			n = max(0, min(due, c.MaxRunners-current))
		}
		// Messages beyond the cap are retried by SQS; keep them.
		c.inbox = c.inbox[n:]
		d.Launch = n
	}
	return d
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
