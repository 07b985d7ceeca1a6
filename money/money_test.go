package money

import (
	"encoding/json"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name string
		in   USD
		want string
	}{
		{name: "zero", in: 0, want: "0"},
		{name: "one micro-dollar", in: 1, want: "0.000001"},
		{name: "spot price", in: 2900, want: "0.0029"},
		{name: "whole dollars", in: 3 * Micro, want: "3"},
		{name: "mixed", in: 1_500_000, want: "1.5"},
		{name: "negative", in: -1, want: "-0.000001"},
		{name: "negative mixed", in: -2_250_000, want: "-2.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("USD(%d).String() = %q; want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

// TestSumHasNoFloatNoise is the bug this package exists for: in float64,
// 0.0356 × 4 added up is 0.14239999999999997, and 0.1 + 0.2 is
// 0.30000000000000004.
func TestSumHasNoFloatNoise(t *testing.T) {
	tests := []struct {
		name   string
		prices []float64
		want   string
	}{
		{name: "four at 0.0356", prices: []float64{0.0356, 0.0356, 0.0356, 0.0356}, want: "0.1424"},
		{name: "0.1 + 0.2", prices: []float64{0.1, 0.2}, want: "0.3"},
		{name: "ten at 0.0104", prices: []float64{0.0104, 0.0104, 0.0104, 0.0104, 0.0104, 0.0104, 0.0104, 0.0104, 0.0104, 0.0104}, want: "0.104"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sum USD
			var f float64
			for _, p := range tt.prices {
				sum += FromDollars(p)
				f += p
			}
			b, err := json.Marshal(map[string]any{"hourlyCost": sum})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"hourlyCost":` + tt.want + `}`; string(b) != want {
				t.Errorf("json = %s; want %s (float64 sum prints %v)", b, want, f)
			}
		})
	}
}

func TestForHours(t *testing.T) {
	tests := []struct {
		name  string
		rate  USD
		hours float64
		want  USD
	}{
		{name: "an hour", rate: 2900, hours: 1, want: 2900},
		{name: "90 minutes", rate: 2900, hours: 1.5, want: 4350},
		{name: "one second rounds to the micro-dollar", rate: 2900, hours: 1.0 / 3600, want: 1},
		{name: "nothing", rate: 2900, hours: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rate.ForHours(tt.hours); got != tt.want {
				t.Errorf("%s × %vh = %s; want %s", tt.rate, tt.hours, got, tt.want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    USD
		wantErr bool
	}{
		{name: "price", in: "0.0029", want: 2900},
		{name: "seventh decimal rounds", in: "0.0000005", want: 1},
		{name: "integer", in: "2", want: 2 * Micro},
		{name: "exponent", in: "1e-6", want: 1},
		{name: "string", in: `"0.1"`, wantErr: true},
		{name: "too large", in: "1e300", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got USD
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Unmarshal(%s) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
