package awssim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Delay kinds.
const (
	DelayUniform   = "uniform"   // every value in [Min, Max] equally likely; Min == Max is a fixed delay
	DelayLogNormal = "lognormal" // ln(delay) normal around ln(Median) with spread Sigma, clamped to [Min, Max]
)

// Delay is a distribution of durations: how long an instance boots, how
// long a rebalance recommendation comes before the interruption notice.
// Draws are functions of the seed and the instance id, so a run replays
// exactly. The zero value is a fixed delay of zero.
type Delay struct {
	Kind     string
	Min, Max time.Duration
	Median   time.Duration
	Sigma    float64
}

// FixedDelay is always d.
func FixedDelay(d time.Duration) Delay { return Delay{Kind: DelayUniform, Min: d, Max: d} }

// UniformDelay is uniform over [lo, hi].
func UniformDelay(lo, hi time.Duration) Delay { return Delay{Kind: DelayUniform, Min: lo, Max: hi} }

// LogNormalDelay has median m and spread sigma (the standard deviation of
// its logarithm), clamped to [lo, hi]; hi zero means a day at most. Boot
// times are skewed this way: most near the median, a few much slower.
func LogNormalDelay(m time.Duration, sigma float64, lo, hi time.Duration) Delay {
	return Delay{Kind: DelayLogNormal, Median: m, Sigma: sigma, Min: lo, Max: hi}
}

// EC2BootDelay is how long a new instance takes to reach running in the
// model the pools benchmark uses: 20–90 s, uniform. Published measurements
// of pending → running alone are shorter (5–17 s), launch → SSH about 26 s;
// 90 s covers slow types and busy zones (README, "Boot delay").
func EC2BootDelay() Delay { return UniformDelay(20*time.Second, 90*time.Second) }

// DefaultRebalanceLead is how long before its interruption notice a spot
// instance gets its rebalance recommendation. AWS says only that the
// recommendation "can arrive sooner" than the notice, or with it; this
// assumes 0–10 minutes.
func DefaultRebalanceLead() Delay { return UniformDelay(0, 10*time.Minute) }

// maxDelay bounds every configured delay: a day is already far past
// anything EC2 does, and it keeps the arithmetic away from overflow.
const maxDelay = 24 * time.Hour

// Validate reports a delay that cannot be drawn from.
func (d Delay) Validate() error {
	if d.Min < 0 || d.Max < 0 || d.Median < 0 {
		return errors.New("delays must not be negative")
	}
	if d.Min > maxDelay || d.Max > maxDelay || d.Median > maxDelay {
		return fmt.Errorf("delays above %v are refused", maxDelay)
	}
	switch d.Kind {
	case "", DelayUniform:
		if d.Max < d.Min {
			return fmt.Errorf("max %v is below min %v", d.Max, d.Min)
		}
	case DelayLogNormal:
		if d.Median <= 0 {
			return errors.New("a log-normal delay needs a median above zero")
		}
		if d.Sigma < 0 || d.Sigma > 5 || math.IsNaN(d.Sigma) {
			return fmt.Errorf("sigma %v must be in [0, 5]", d.Sigma)
		}
		if d.Max != 0 && d.Max < d.Min {
			return fmt.Errorf("max %v is below min %v", d.Max, d.Min)
		}
	default:
		return fmt.Errorf("unknown distribution %q; use %s or %s", d.Kind, DelayUniform, DelayLogNormal)
	}
	return nil
}

// draw maps two independent uniforms in [0, 1) to a delay. u1 alone drives
// a uniform delay, so its bounds are reached exactly at u1 = 0 and as u1
// nears 1; the log-normal uses both (Box–Muller).
func (d Delay) draw(u1, u2 float64) time.Duration {
	switch d.Kind {
	case DelayLogNormal:
		z := math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
		// Clamped as a float: a far tail would overflow a Duration.
		v := min(float64(d.Median)*math.Exp(d.Sigma*z), float64(maxDelay))
		if d.Max > 0 {
			v = min(v, float64(d.Max))
		}
		return max(time.Duration(v), d.Min)
	default:
		span := d.Max - d.Min
		// Rounded to the nearest nanosecond over span+1 values, so Max
		// itself can come out.
		return d.Min + time.Duration(u1*float64(span+1))
	}
}

// String is how /_sim/state shows a delay.
func (d Delay) String() string {
	if d.Kind == DelayLogNormal {
		return fmt.Sprintf("lognormal(median %v, sigma %g) in [%v, %v]", d.Median, d.Sigma, d.Min, d.Max)
	}
	if d.Min == d.Max {
		return d.Min.String()
	}
	return fmt.Sprintf("uniform %v–%v", d.Min, d.Max)
}

// delayJSON is a Delay as the control API reads it, durations as Go
// duration strings: {"distribution":"uniform","min":"20s","max":"90s"},
// {"distribution":"lognormal","median":"40s","sigma":0.5,"min":"20s","max":"3m"},
// {"distribution":"fixed","delay":"5s"}, or {"distribution":"ec2"} (also
// what an empty body means) for EC2BootDelay.
type delayJSON struct {
	Distribution string  `json:"distribution"`
	Delay        string  `json:"delay"`
	Min          string  `json:"min"`
	Max          string  `json:"max"`
	Median       string  `json:"median"`
	Sigma        float64 `json:"sigma"`
}

func (j delayJSON) delay(preset func() Delay) (Delay, error) {
	dur := func(name, s string) (time.Duration, error) {
		if s == "" {
			return 0, nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return v, nil
	}
	var d Delay
	var err error
	fields := []struct {
		name string
		src  string
		dst  *time.Duration
	}{{"delay", j.Delay, nil}, {"min", j.Min, &d.Min}, {"max", j.Max, &d.Max}, {"median", j.Median, &d.Median}}
	var fixed time.Duration
	for _, f := range fields {
		dst := f.dst
		if dst == nil {
			dst = &fixed
		}
		if *dst, err = dur(f.name, f.src); err != nil {
			return d, err
		}
	}
	switch j.Distribution {
	case "", "ec2", "default":
		if j.Delay != "" || j.Min != "" || j.Max != "" || j.Median != "" || j.Sigma != 0 {
			return d, errors.New("distribution is required with delay, min, max, median or sigma")
		}
		d = preset()
	case "fixed":
		if j.Min != "" || j.Max != "" || j.Median != "" || j.Sigma != 0 {
			return d, errors.New("a fixed delay takes only delay")
		}
		d = FixedDelay(fixed)
	case DelayUniform:
		if j.Delay != "" || j.Median != "" || j.Sigma != 0 {
			return d, errors.New("a uniform delay takes min and max")
		}
		d.Kind = DelayUniform
	case DelayLogNormal:
		if j.Delay != "" {
			return d, errors.New("a log-normal delay takes median, sigma, min and max")
		}
		d.Kind, d.Sigma = DelayLogNormal, j.Sigma
	default:
		return d, fmt.Errorf("unknown distribution %q; use fixed, uniform, lognormal or ec2", j.Distribution)
	}
	return d, d.Validate()
}
