package poolsim

import (
	"reflect"
	"testing"
	"time"
)

// The default day's statistics per seed. The counts are exact because the
// trace is seeded; they change only when the generator does, and then this
// table is the diff to review.
func TestTraceStatistics(t *testing.T) {
	tests := map[string]struct {
		seed                        uint64
		jobs, pushes, office, night int
		maxMatrix                   int
	}{
		"seed 1": {seed: 1, jobs: 1211, pushes: 140, office: 1010, night: 4, maxMatrix: 48},
		"seed 2": {seed: 2, jobs: 1501, pushes: 147, office: 1090, night: 41, maxMatrix: 49},
		"seed 3": {seed: 3, jobs: 1150, pushes: 130, office: 1011, night: 12, maxMatrix: 41},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := Stats(Generate(DefaultTrace(tc.seed)))
			got := [5]int{s.Jobs, s.Pushes, s.OfficeHourJobs, s.NightJobs, s.MaxMatrix}
			want := [5]int{tc.jobs, tc.pushes, tc.office, tc.night, tc.maxMatrix}
			if got != want {
				t.Errorf("jobs, pushes, office, night, max matrix = %v; want %v", got, want)
			}
			if s.MinMatrix != 1 {
				t.Errorf("smallest matrix %d; want 1 (single-job pushes)", s.MinMatrix)
			}
			// Log-normal with a median of 8 min: the sample median of
			// ~1,200 draws lies within ±10 %.
			if s.MedianRun < 432*time.Second || s.MedianRun > 528*time.Second {
				t.Errorf("median run %v; want 8m ± 10%%", s.MedianRun)
			}
			// Office hours carry most of the load: at least 2/3 of the jobs.
			if 3*s.OfficeHourJobs < 2*s.Jobs {
				t.Errorf("%d of %d jobs in office hours; want ≥ 2/3", s.OfficeHourJobs, s.Jobs)
			}
		})
	}
}

func TestTraceBounds(t *testing.T) {
	c := DefaultTrace(7)
	c.PeakPushesPerHour = 60 // many pushes, so the limits are reached
	jobs := Generate(c)
	var prev time.Duration
	for _, j := range jobs {
		if j.Arrive < prev || j.Arrive < 0 || j.Arrive >= 24*time.Hour {
			t.Fatalf("job %d arrives at %v after %v; want sorted within the day", j.ID, j.Arrive, prev)
		}
		prev = j.Arrive
		if j.Run < c.MinRun || j.Run > c.MaxRun {
			t.Fatalf("job %d runs %v; want within [%v, %v]", j.ID, j.Run, c.MinRun, c.MaxRun)
		}
		if len(j.Labels) == 0 {
			t.Fatalf("job %d has no labels", j.ID)
		}
	}
	s := Stats(jobs)
	if s.MaxMatrix != c.MaxMatrix {
		t.Errorf("largest matrix %d at 60 pushes/h; want exactly the limit %d", s.MaxMatrix, c.MaxMatrix)
	}
}

func TestTraceDeterminism(t *testing.T) {
	tests := map[string]struct {
		a, b uint64
		same bool
	}{
		"same seed":  {a: 5, b: 5, same: true},
		"other seed": {a: 5, b: 6, same: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := reflect.DeepEqual(Generate(DefaultTrace(tc.a)), Generate(DefaultTrace(tc.b))); got != tc.same {
				t.Errorf("traces of seeds %d and %d equal = %v; want %v", tc.a, tc.b, got, tc.same)
			}
		})
	}
}

func TestLoadProfile(t *testing.T) {
	c := DefaultTrace(1)
	tests := map[string]struct {
		at   time.Duration
		want float64
	}{
		"midnight":            {at: 0, want: 0.5},
		"ramp starts at 7":    {at: 7 * time.Hour, want: 0.5},
		"half way up at 8":    {at: 8 * time.Hour, want: 6.25},
		"peak at 9":           {at: 9 * time.Hour, want: 12},
		"peak just before 18": {at: 18*time.Hour - time.Second, want: 12},
		"ramp down at 19:30":  {at: 19*time.Hour + 30*time.Minute, want: 6.25},
		"night at 21":         {at: 21 * time.Hour, want: 0.5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := c.Load(tc.at); got != tc.want {
				t.Errorf("Load(%v) = %v; want %v", tc.at, got, tc.want)
			}
		})
	}
}
