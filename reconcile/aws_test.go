package reconcile

import (
	"math"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/spot"
)

// TestClassify: pending instances boot; running ones take the running
// jobs oldest first, each up to its weight; the rest are idle.
func TestClassify(t *testing.T) {
	p := testPool(t)
	p.LaunchConfigs = []pool.LaunchConfig{{InstanceType: "c6i.large", Capacity: 1}, {InstanceType: "c6i.2*", Capacity: 4}}
	ins := []spot.Instance{
		{ID: "i-new", Type: "c6i.large", State: "running", LaunchTime: t0.Add(2 * time.Minute)},
		{ID: "i-old", Type: "c6i.2xlarge", State: "running", LaunchTime: t0},
		{ID: "i-mid", Type: "c6i.large", State: "running", LaunchTime: t0.Add(time.Minute)},
		{ID: "i-boot", Type: "c6i.large", State: "pending", LaunchTime: t0.Add(3 * time.Minute)},
		{ID: "i-gone-config", Type: "m5.large", State: "running", LaunchTime: t0.Add(4 * time.Minute), Interrupted: true},
	}
	tests := map[string]struct {
		running int
		want    map[string]pool.State
	}{
		"no jobs: all idle":                            {0, map[string]pool.State{"i-old": pool.Idle, "i-mid": pool.Idle, "i-new": pool.Idle}},
		"jobs that exactly fill the oldest (weight 4)": {4, map[string]pool.State{"i-old": pool.Busy, "i-mid": pool.Idle, "i-new": pool.Idle}},
		"one job past it":                              {5, map[string]pool.State{"i-old": pool.Busy, "i-mid": pool.Busy, "i-new": pool.Idle}},
		"more jobs than slots":                         {50, map[string]pool.State{"i-old": pool.Busy, "i-mid": pool.Busy, "i-new": pool.Busy}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Classify(p, ins, pool.Demand{Running: tc.running}, Seen{}, t0.Add(time.Hour))
			if len(got) != len(ins) {
				t.Fatalf("%d instances, want %d", len(got), len(ins))
			}
			for _, i := range got {
				switch i.ID {
				case "i-boot":
					if i.State != pool.Booting {
						t.Errorf("i-boot is %s", i.State)
					}
				case "i-gone-config":
					if i.Capacity != 1 || i.Interrupted.IsZero() {
						t.Errorf("an instance of no config: capacity %d, interrupted %v", i.Capacity, i.Interrupted)
					}
				default:
					if i.State != tc.want[i.ID] {
						t.Errorf("%s is %s, want %s", i.ID, i.State, tc.want[i.ID])
					}
				}
				if i.ID == "i-old" && i.Capacity != 4 {
					t.Errorf("i-old capacity %d, want 4 (c6i.2* weight)", i.Capacity)
				}
			}
		})
	}
}

// TestBid: a config's price cap is the pool's maxPrice times its utility,
// never over the policy's maxPrice.
func TestBid(t *testing.T) {
	tests := map[string]struct{ maxPrice, utility, policyMax, want float64 }{
		"utility 1":                  {0.1, 1, 0.5, 0.1},
		"utility 2":                  {0.1, 2, 0.5, 0.2},
		"exactly at the policy's":    {0.1, 5, 0.5, 0.5},
		"past the policy's":          {0.1, 6, 0.5, 0.5},
		"no policy cap":              {0.1, 6, 0, 0.6},
		"a pool that names no price": {0, 3, 0.5, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := bid(tc.maxPrice, tc.utility, tc.policyMax); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("bid = %g, want %g", got, tc.want)
			}
		})
	}
}
