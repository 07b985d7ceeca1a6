package poolsim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

// Pick orders idle job slots when a queued job is handed out. It moves the
// cost of idle-timeout controllers by a few per cent (peers.md §7).
type Pick string

const (
	// PickRandom: any idle agent may win the job, as when agents long-poll
	// the queue (Buildkite agents, generic-worker's claimWork). Default.
	PickRandom Pick = "random"
	// PickRecent: the most recently idle agent first, which lets the
	// long-idle ones reach their idle timeout.
	PickRecent Pick = "recent"
	// PickOldest: the longest idle agent first, which keeps every agent
	// warm and defeats idle timeouts.
	PickOldest Pick = "oldest"
)

// Config is one benchmark run.
type Config struct {
	Trace TraceConfig
	// Start is the trace's local midnight (a weekday).
	Start        time.Time
	Tick         time.Duration // virtual time per step (10 s)
	Drain        time.Duration // how long after the day's end jobs may finish
	Region, Zone string
	InstanceType string
	Capacity     int // job slots per instance
	// PeakInterruptionRate is spot interruptions per instance-hour at peak
	// load; each hour's rate follows the trace's load profile.
	PeakInterruptionRate float64
	Boot                 awssim.Delay
	Pick                 Pick
	SampleEvery          time.Duration // the picture's resolution
}

// DefaultConfig is issue 12's benchmark: EC2's 20–90 s boots, 5 % of spot
// instances interrupted per hour at peak, one job per c6i.large.
func DefaultConfig(seed uint64) Config {
	return Config{
		Trace: DefaultTrace(seed),
		Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("EST", -5*3600)), // a Tuesday
		Tick:  10 * time.Second, Drain: 3 * time.Hour,
		Region: "us-east-1", Zone: "us-east-1a", InstanceType: "c6i.large", Capacity: 1,
		PeakInterruptionRate: 0.05, Boot: awssim.EC2BootDelay(), Pick: PickRandom,
		SampleEvery: time.Minute,
	}
}

type slot struct {
	job       *queued
	started   time.Time
	freeSince time.Time
}

type instance struct {
	id       string
	launched time.Time
	booted   time.Time // zero while booting
	slots    []slot
	warned   bool
	jobsDone int
}

type queued struct {
	job   Job
	since time.Time // (re)queued at
}

// Sample is one point of the picture.
type Sample struct {
	At                                      time.Duration // since Start
	Pending, Desired, RunningJobs, Capacity int
}

// Result is one controller's day.
type Result struct {
	Controller    string
	Waits         []time.Duration // per finished job: finish − arrival − run
	Unfinished    int
	InstanceTime  time.Duration // billed: per instance, at least 60 s
	CapacityTime  time.Duration // slot-time provisioned (boot included)
	BusyTime      time.Duration // slot-time running jobs, lost runs included
	BootTime      time.Duration // slot-time from launch to running
	FloorTime     time.Duration // Σ max(run, 60 s) / capacity
	Price         float64       // spot $/instance-hour used for both
	Launches      int
	Interruptions int
	LostJobTime   time.Duration
	Samples       []Sample
}

// harness is one run's state.
type harness struct {
	cfg   Config
	sim   *awssim.Sim
	ec2   *ec2.Client
	rng   *rand.Rand
	live  map[string]*instance
	queue []*queued
	// queued collects (re)queue times since the last observation.
	queued    []time.Time
	ephemeral bool
	res       Result
}

// Run plays the trace through ctrl against a fresh awssim in virtual time.
// Launches and terminations go through the real AWS SDK (RunInstances and
// TerminateInstances over HTTP to the sim in this process): they are a few
// thousand calls a day, well under a second, and they exercise the same
// wire path spotter's pool reconciler will use. Boots, interruptions and
// instance states come from the sim's clock and its EventBridge events.
func Run(ctx context.Context, cfg Config, jobs []Job, ctrl Controller) (Result, error) {
	boot := cfg.Boot
	sim := awssim.New(awssim.Options{Seed: int64(cfg.Trace.Seed), Start: cfg.Start, Boot: &boot})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	h := &harness{
		cfg: cfg, sim: sim, live: map[string]*instance{},
		rng: rand.New(rand.NewPCG(cfg.Trace.Seed, 0x5eed)),
		ec2: ec2.NewFromConfig(aws.Config{
			Region:      cfg.Region,
			Credentials: credentials.NewStaticCredentialsProvider(awssim.DefaultAccessKeyID, awssim.DefaultSecretAccessKey, ""),
			HTTPClient:  &http.Client{Transport: readWhole{srv.Client().Transport}},
			// One attempt per call (see readWhole): a failed call fails the run.
			RetryMaxAttempts: 1,
		}, func(o *ec2.Options) { o.BaseEndpoint = aws.String(srv.URL) }),
	}
	h.res.Controller = ctrl.Name()
	if e, ok := ctrl.(Ephemeral); ok {
		h.ephemeral = e.Ephemeral()
	}
	if err := sim.SetCapacity(cfg.Region, "", cfg.InstanceType, false, 1<<20); err != nil {
		return h.res, err
	}
	price, err := h.spotPrice(ctx)
	if err != nil {
		return h.res, err
	}
	h.res.Price = price
	for _, j := range jobs {
		h.res.FloorTime += max(j.Run, time.Minute) / time.Duration(cfg.Capacity)
	}

	next, since, hour := 0, uint64(0), -1
	end := cfg.Start.Add(24 * time.Hour)
	var lastSample time.Time
	for {
		now := sim.Now()
		at := now.Sub(cfg.Start)
		if now.After(end.Add(cfg.Drain)) || (!now.Before(end) && next == len(jobs) && len(h.queue) == 0 && h.runningJobs() == 0) {
			break
		}
		if hr := int(at.Hours()); hr != hour {
			hour = hr
			rate := cfg.PeakInterruptionRate * cfg.Trace.Load(at) / cfg.Trace.PeakPushesPerHour
			if err := sim.SetInterruptionRate(rate); err != nil {
				return h.res, err
			}
		}
		if _, err := sim.AdvanceClock(cfg.Tick); err != nil {
			return h.res, err
		}
		now = sim.Now()
		for _, e := range sim.Events(since) {
			since = e.Seq
			h.event(e)
		}
		h.finish(now)
		next = h.arrive(jobs, next, now)
		h.assign(now)
		o := h.observe(now)
		d := ctrl.Decide(o)
		if err := h.apply(ctx, now, d); err != nil {
			return h.res, fmt.Errorf("%s at %v: %w", ctrl.Name(), at, err)
		}
		if now.Sub(lastSample) >= cfg.SampleEvery {
			lastSample = now
			h.sample(at, o, d)
		}
	}
	now := sim.Now()
	for id, in := range h.live {
		h.end(in, now)
		delete(h.live, id)
	}
	h.res.Unfinished = len(h.queue) + h.runningJobs() + len(jobs) - next
	return h.res, nil
}

// arrive queues the jobs from jobs[next] on that have arrived by now and
// returns the index of the first still to come.
func (h *harness) arrive(jobs []Job, next int, now time.Time) int {
	for ; next < len(jobs) && !h.cfg.Start.Add(jobs[next].Arrive).After(now); next++ {
		h.queue = append(h.queue, &queued{job: jobs[next], since: h.cfg.Start.Add(jobs[next].Arrive)})
		h.queued = append(h.queued, h.cfg.Start.Add(jobs[next].Arrive))
	}
	return next
}

// sample records one point of the run's series; a decision that sets no
// desired count is taken to want what it has plus what it launches.
func (h *harness) sample(at time.Duration, o Observation, d Decision) {
	c := o.counts()
	desired := d.Desired
	if desired < 0 {
		desired = c.booting + c.registered + d.Launch*h.cfg.Capacity
	}
	h.res.Samples = append(h.res.Samples, Sample{At: at, Pending: o.Pending, Desired: desired, RunningJobs: o.Running, Capacity: c.booting + c.registered})
}

func (h *harness) spotPrice(ctx context.Context) (float64, error) {
	out, err := h.ec2.DescribeSpotPriceHistory(ctx, &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []types.InstanceType{types.InstanceType(h.cfg.InstanceType)},
		AvailabilityZone:    aws.String(h.cfg.Zone),
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(h.sim.Now()),
	})
	if err != nil {
		return 0, err
	}
	if len(out.SpotPriceHistory) == 0 {
		return 0, fmt.Errorf("no spot price for %s in %s", h.cfg.InstanceType, h.cfg.Zone)
	}
	return strconv.ParseFloat(aws.ToString(out.SpotPriceHistory[0].SpotPrice), 64)
}

func (h *harness) event(e awssim.Event) {
	in := h.live[e.Detail.InstanceID]
	if in == nil {
		return // one we terminated, or not ours
	}
	switch {
	case e.DetailType == "EC2 Spot Instance Interruption Warning":
		in.warned = true
		h.res.Interruptions++
	case e.Detail.State == "running":
		in.booted = e.At
		h.res.BootTime += e.At.Sub(in.launched) * time.Duration(len(in.slots))
		for i := range in.slots {
			in.slots[i].freeSince = e.At
		}
	case e.Detail.State == "shutting-down", e.Detail.State == "terminated", e.Detail.State == "stopping":
		// Interrupted: jobs that end before the instance does finish;
		// the others are lost and go back to the queue's head.
		var requeue []*queued
		for i := range in.slots {
			s := &in.slots[i]
			if s.job == nil {
				continue
			}
			if done := s.started.Add(s.job.job.Run); !done.After(e.At) {
				h.complete(in, s, done)
				continue
			}
			lost := e.At.Sub(s.started)
			h.res.LostJobTime += lost
			h.res.BusyTime += lost
			requeue = append(requeue, &queued{job: s.job.job, since: e.At})
			h.queued = append(h.queued, e.At)
			s.job = nil
		}
		h.queue = append(requeue, h.queue...)
		h.end(in, e.At)
		delete(h.live, in.id)
	}
}

func (h *harness) complete(in *instance, s *slot, done time.Time) {
	arrive := h.cfg.Start.Add(s.job.job.Arrive)
	h.res.Waits = append(h.res.Waits, done.Sub(arrive)-s.job.job.Run)
	h.res.BusyTime += s.job.job.Run
	s.job, s.freeSince = nil, done
	in.jobsDone++
}

func (h *harness) finish(now time.Time) {
	for _, in := range h.live {
		for i := range in.slots {
			s := &in.slots[i]
			if s.job != nil && !s.started.Add(s.job.job.Run).After(now) {
				h.complete(in, s, s.started.Add(s.job.job.Run))
			}
		}
	}
}

func (h *harness) end(in *instance, at time.Time) {
	life := at.Sub(in.launched)
	h.res.CapacityTime += life * time.Duration(len(in.slots))
	h.res.InstanceTime += max(life, time.Minute)
}

func (h *harness) runningJobs() int {
	n := 0
	for _, in := range h.live {
		for _, s := range in.slots {
			if s.job != nil {
				n++
			}
		}
	}
	return n
}

// assign hands queued jobs, oldest first, to free slots in Pick order.
func (h *harness) assign(now time.Time) {
	type free struct {
		in *instance
		s  *slot
	}
	var frees []free
	ids := h.ids()
	for _, id := range ids {
		in := h.live[id]
		if in.booted.IsZero() || in.warned || (h.ephemeral && in.jobsDone > 0) {
			continue
		}
		for i := range in.slots {
			if in.slots[i].job == nil {
				frees = append(frees, free{in, &in.slots[i]})
			}
		}
	}
	switch h.cfg.Pick {
	case PickRecent:
		sort.SliceStable(frees, func(i, j int) bool { return frees[i].s.freeSince.After(frees[j].s.freeSince) })
	case PickOldest:
		sort.SliceStable(frees, func(i, j int) bool { return frees[i].s.freeSince.Before(frees[j].s.freeSince) })
	default:
		h.rng.Shuffle(len(frees), func(i, j int) { frees[i], frees[j] = frees[j], frees[i] })
	}
	for len(h.queue) > 0 && len(frees) > 0 {
		f := frees[0]
		frees = frees[1:]
		f.s.job, f.s.started = h.queue[0], now
		h.queue = h.queue[1:]
	}
}

// ids lists live instances in a stable order (map order would make runs
// differ).
func (h *harness) ids() []string {
	ids := make([]string, 0, len(h.live))
	for id := range h.live {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
