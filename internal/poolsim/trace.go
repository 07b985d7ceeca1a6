// Package poolsim is issue 12's pools benchmark: a seeded CI-day trace, a
// virtual-time harness that runs it against awssim through the AWS SDK,
// and the ancestors' scaling controllers as they ship today. It is a
// benchmark, not part of the server: nothing under server/ imports it.
package poolsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// Job is one CI job of a trace.
type Job struct {
	ID     int
	Push   int           // the push (matrix) it belongs to
	Arrive time.Duration // since the trace's local midnight
	Run    time.Duration // how long it runs once an agent takes it
	Labels []string
}

// TraceConfig shapes a day. The zero value is not useful; use DefaultTrace.
type TraceConfig struct {
	Seed uint64
	// PeakPushesPerHour is the push rate on weekday office hours (9–18
	// local); NightPushesPerHour the rate from 21 to 7; the hours between
	// ramp linearly.
	PeakPushesPerHour  float64
	NightPushesPerHour float64
	// SingleJobShare of pushes run one job; the rest fan out into a matrix
	// of 2..MaxMatrix jobs, log-uniform (small matrices are common, 50-job
	// ones rare but real).
	SingleJobShare float64
	MaxMatrix      int
	// Job run times are log-normal with this median and sigma, clamped to
	// [MinRun, MaxRun].
	MedianRun      time.Duration
	Sigma          float64
	MinRun, MaxRun time.Duration
}

// DefaultTrace is the benchmark's day: a team of a few dozen people in one
// time zone, about 1,500 jobs on a weekday.
func DefaultTrace(seed uint64) TraceConfig {
	return TraceConfig{
		Seed: seed, PeakPushesPerHour: 12, NightPushesPerHour: 0.5,
		SingleJobShare: 0.4, MaxMatrix: 50,
		MedianRun: 8 * time.Minute, Sigma: 0.8, MinRun: 20 * time.Second, MaxRun: 90 * time.Minute,
	}
}

// Load is the push rate at a local time of day, in pushes per hour.
func (c TraceConfig) Load(at time.Duration) float64 {
	h := at.Hours()
	ramp := func(from, to, x float64) float64 { return from + (to-from)*x }
	switch {
	case h >= 9 && h < 18:
		return c.PeakPushesPerHour
	case h >= 7 && h < 9:
		return ramp(c.NightPushesPerHour, c.PeakPushesPerHour, (h-7)/2)
	case h >= 18 && h < 21:
		return ramp(c.PeakPushesPerHour, c.NightPushesPerHour, (h-18)/3)
	default:
		return c.NightPushesPerHour
	}
}

var labelSets = [][]string{
	{"self-hosted", "linux", "x64", "build"},
	{"self-hosted", "linux", "x64", "test"},
	{"self-hosted", "linux", "x64", "lint"},
}

// Generate draws a day's jobs, in arrival order. The same config gives the
// same trace: one PCG stream seeded by Seed feeds every draw.
func Generate(c TraceConfig) []Job {
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	peak := max(c.PeakPushesPerHour, c.NightPushesPerHour)
	var jobs []Job
	push := 0
	// A Poisson process at the peak rate, thinned to Load (Lewis–Shedler).
	for t := 0.0; ; {
		t += rng.ExpFloat64() / peak // hours
		if t >= 24 {
			break
		}
		at := time.Duration(t * float64(time.Hour))
		if rng.Float64()*peak >= c.Load(at) {
			continue
		}
		push++
		n := 1
		if rng.Float64() >= c.SingleJobShare {
			n = int(math.Round(math.Exp(math.Log(2) + rng.Float64()*(math.Log(float64(c.MaxMatrix))-math.Log(2)))))
			n = min(max(n, 2), c.MaxMatrix)
		}
		labels := labelSets[rng.IntN(len(labelSets))]
		for range n {
			run := time.Duration(float64(c.MedianRun) * math.Exp(c.Sigma*rng.NormFloat64()))
			run = min(max(run, c.MinRun), c.MaxRun).Round(time.Second)
			jobs = append(jobs, Job{ID: len(jobs), Push: push, Arrive: at.Round(time.Second), Run: run, Labels: labels})
		}
	}
	return jobs
}

// TraceStats summarises a trace for tests and the report.
type TraceStats struct {
	Jobs, Pushes         int
	OfficeHourJobs       int // arriving 9–18 local
	NightJobs            int // arriving 21–7 local
	MinMatrix, MaxMatrix int
	MedianRun            time.Duration
	JobTime              time.Duration // Σ run times
}

// Stats computes TraceStats.
func Stats(jobs []Job) TraceStats {
	s := TraceStats{Jobs: len(jobs), MinMatrix: math.MaxInt}
	sizes := map[int]int{}
	runs := make([]time.Duration, 0, len(jobs))
	for _, j := range jobs {
		sizes[j.Push]++
		runs = append(runs, j.Run)
		s.JobTime += j.Run
		switch h := j.Arrive.Hours(); {
		case h >= 9 && h < 18:
			s.OfficeHourJobs++
		case h >= 21 || h < 7:
			s.NightJobs++
		}
	}
	s.Pushes = len(sizes)
	for _, n := range sizes {
		s.MinMatrix, s.MaxMatrix = min(s.MinMatrix, n), max(s.MaxMatrix, n)
	}
	if len(runs) > 0 {
		sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
		s.MedianRun = runs[len(runs)/2]
	}
	return s
}

func (s TraceStats) String() string {
	return fmt.Sprintf("%d jobs in %d pushes (%d in office hours, %d at night), matrices %d–%d, median run %v, %.1f job-hours",
		s.Jobs, s.Pushes, s.OfficeHourJobs, s.NightJobs, s.MinMatrix, s.MaxMatrix, s.MedianRun, s.JobTime.Hours())
}
