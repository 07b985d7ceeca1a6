package awssim

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// justBelowOne is the largest draw unit can give.
var justBelowOne = math.Nextafter(1, 0)

func TestDelayDrawAtItsLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		d      Delay
		u1, u2 float64
		want   time.Duration
	}{
		"zero value is a fixed zero":          {Delay{}, 0.7, 0.2, 0},
		"fixed at the lowest draw":            {FixedDelay(5 * time.Second), 0, 0, 5 * time.Second},
		"fixed at the highest draw":           {FixedDelay(5 * time.Second), justBelowOne, justBelowOne, 5 * time.Second},
		"uniform at the lowest draw is min":   {EC2BootDelay(), 0, 0.5, 20 * time.Second},
		"uniform at the highest draw is max":  {EC2BootDelay(), justBelowOne, 0.5, 90 * time.Second},
		"uniform halfway":                     {UniformDelay(0, 2*time.Second), 0.5, 0, time.Second},
		"uniform ignores the second draw":     {UniformDelay(0, 2*time.Second), 0.5, 0.99, time.Second},
		"lognormal z=0 is the median":         {LogNormalDelay(40*time.Second, 0.5, 0, 0), 0, 0.3, 40 * time.Second},
		"lognormal with no spread is median":  {LogNormalDelay(40*time.Second, 0, 0, 0), 0.9, 0, 40 * time.Second},
		"lognormal low tail clamps to min":    {LogNormalDelay(40*time.Second, 2, 20*time.Second, 90*time.Second), justBelowOne, 0.5, 20 * time.Second},
		"lognormal high tail clamps to max":   {LogNormalDelay(40*time.Second, 2, 20*time.Second, 90*time.Second), justBelowOne, 0, 90 * time.Second},
		"lognormal without max is unclamped":  {LogNormalDelay(time.Second, 1, 0, 0), 1 - math.Exp(-2), 0, 7389056099 * time.Nanosecond},
		"lognormal far tail stops at a day":   {LogNormalDelay(maxDelay, 5, 0, 0), justBelowOne, 0, maxDelay},
		"lognormal min equal to max is fixed": {LogNormalDelay(40*time.Second, 1, 30*time.Second, 30*time.Second), 0.3, 0.1, 30 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.d.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := tc.d.draw(tc.u1, tc.u2)
			if diff := got - tc.want; diff < -time.Microsecond || diff > time.Microsecond {
				t.Errorf("draw(%v, %v) = %v; want %v", tc.u1, tc.u2, got, tc.want)
			}
		})
	}
}

func TestDelayDrawsStayInBounds(t *testing.T) {
	for name, d := range map[string]Delay{
		"ec2":       EC2BootDelay(),
		"lognormal": LogNormalDelay(40*time.Second, 0.6, 20*time.Second, 90*time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Seed: 9})
			var lo, hi time.Duration = math.MaxInt64, 0
			for i := range 20000 {
				id := fmt.Sprintf("i-%017x", i)
				v := d.draw(s.unit("boot1", id), s.unit("boot2", id))
				lo, hi = min(lo, v), max(hi, v)
			}
			if lo < d.Min || hi > d.Max {
				t.Errorf("draws span [%v, %v]; want within [%v, %v]", lo, hi, d.Min, d.Max)
			}
			// 20,000 seeded draws come near both ends of a uniform delay,
			// and the clamped log-normal piles some onto each bound.
			if lo > d.Min+time.Second || hi < d.Max-time.Second {
				t.Errorf("draws span [%v, %v]; want close to [%v, %v]", lo, hi, d.Min, d.Max)
			}
		})
	}
}

func TestDelayValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		d       Delay
		wantErr string
	}{
		"max at the one-day limit":     {UniformDelay(0, maxDelay), ""},
		"max past the one-day limit":   {UniformDelay(0, maxDelay+1), "above"},
		"max equal to min":             {UniformDelay(time.Second, time.Second), ""},
		"max below min":                {UniformDelay(2*time.Second, time.Second), "below min"},
		"negative min":                 {UniformDelay(-1, time.Second), "negative"},
		"lognormal without a median":   {LogNormalDelay(0, 1, 0, 0), "median"},
		"lognormal sigma at the limit": {LogNormalDelay(time.Second, 5, 0, 0), ""},
		"lognormal sigma past it":      {LogNormalDelay(time.Second, 5.001, 0, 0), "sigma"},
		"lognormal negative sigma":     {LogNormalDelay(time.Second, -0.1, 0, 0), "sigma"},
		"lognormal max below min":      {LogNormalDelay(time.Second, 1, 3*time.Second, 2*time.Second), "below min"},
		"unknown kind":                 {Delay{Kind: "gamma"}, "unknown distribution"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.d.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate() = %v; want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDelayJSON(t *testing.T) {
	for name, tc := range map[string]struct {
		in      delayJSON
		want    Delay
		wantErr string
	}{
		"empty is the preset":       {delayJSON{}, EC2BootDelay(), ""},
		"ec2 is the preset":         {delayJSON{Distribution: "ec2"}, EC2BootDelay(), ""},
		"fixed":                     {delayJSON{Distribution: "fixed", Delay: "5s"}, FixedDelay(5 * time.Second), ""},
		"fixed zero":                {delayJSON{Distribution: "fixed"}, FixedDelay(0), ""},
		"uniform":                   {delayJSON{Distribution: "uniform", Min: "20s", Max: "90s"}, EC2BootDelay(), ""},
		"lognormal":                 {delayJSON{Distribution: "lognormal", Median: "40s", Sigma: 0.5, Min: "20s", Max: "3m"}, LogNormalDelay(40*time.Second, 0.5, 20*time.Second, 3*time.Minute), ""},
		"bad duration":              {delayJSON{Distribution: "uniform", Min: "20", Max: "90s"}, Delay{}, "min"},
		"fields without a kind":     {delayJSON{Min: "1s"}, Delay{}, "distribution is required"},
		"fixed with bounds":         {delayJSON{Distribution: "fixed", Delay: "1s", Max: "2s"}, Delay{}, "only delay"},
		"uniform with a median":     {delayJSON{Distribution: "uniform", Median: "2s"}, Delay{}, "min and max"},
		"lognormal with a delay":    {delayJSON{Distribution: "lognormal", Delay: "2s", Median: "1s"}, Delay{}, "median, sigma"},
		"unknown kind":              {delayJSON{Distribution: "weibull"}, Delay{}, "unknown distribution"},
		"invalid after parsing":     {delayJSON{Distribution: "uniform", Min: "9s", Max: "1s"}, Delay{}, "below min"},
		"negative fixed is refused": {delayJSON{Distribution: "fixed", Delay: "-1s"}, Delay{}, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tc.in.delay(EC2BootDelay)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("delay() = %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("delay() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
