package pages

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestNotice(t *testing.T) {
	tests := map[string]struct {
		query string
		want  string
	}{
		"launched":                 {"did=launched&n=2", "Launched 2 instance(s). They appear below as they boot."},
		"dry run with a cost":      {"did=dryrun&n=1&cost=0.0123", "Dry run passed: 1 instance(s) would launch at about $0.0123/h. Nothing was started."},
		"dry run, bad cost":        {"did=dryrun&n=1&cost=<b>", "Dry run passed: 1 instance(s) would launch. Nothing was started."},
		"terminated":               {"did=terminated&n=3", "Terminating 3 instance(s)."},
		"text in n is read as 0":   {"did=launched&n=send+me+your+token", "Launched 0 instance(s). They appear below as they boot."},
		"unknown did says nothing": {"did=<script>", ""},
		"nothing":                  {"", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			if got := notice(q); got != tt.want {
				t.Errorf("notice(%q) = %q; want %q", tt.query, got, tt.want)
			}
		})
	}
}

func TestCountdown(t *testing.T) {
	tests := map[string]struct {
		d    time.Duration
		want string
	}{
		"hours":              {time.Hour + 4*time.Minute + 30*time.Second, "1h 04m"},
		"minutes":            {3*time.Minute + 9*time.Second, "3m 09s"},
		"exactly one hour":   {time.Hour, "1h 00m"},
		"one second":         {time.Second, "0m 01s"},
		"at zero it expired": {0, "expired"},
		"past":               {-time.Minute, "expired"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := countdown(tt.d); got != tt.want {
				t.Errorf("countdown(%v) = %q; want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestTTLChoices(t *testing.T) {
	tests := map[string]struct {
		def, max time.Duration
		want     []string
		selected string
	}{
		"up to the max, at it included": {time.Hour, 4 * time.Hour, []string{"15m", "30m", "1h", "2h", "4h"}, "1h"},
		"an odd default is offered":     {90 * time.Minute, 2 * time.Hour, []string{"15m", "30m", "1h", "1h30m", "2h"}, "1h30m"},
		"a max under every round value": {10 * time.Minute, 10 * time.Minute, []string{"10m"}, "10m"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			var sel string
			for _, c := range ttlChoices(tt.def, tt.max) {
				got = append(got, c.Value)
				if c.Selected {
					sel = c.Value
				}
			}
			if !slices.Equal(got, tt.want) || sel != tt.selected {
				t.Errorf("ttlChoices(%v, %v) = %v selecting %q; want %v selecting %q", tt.def, tt.max, got, sel, tt.want, tt.selected)
			}
		})
	}
}

func TestExtendChoices(t *testing.T) {
	tests := map[string]struct {
		cur, left, max time.Duration
		want           []string
	}{
		"longer than now, up to the max":   {time.Hour, 30 * time.Minute, 4 * time.Hour, []string{"2h", "4h"}},
		"an odd max is offered":            {time.Hour, time.Hour, 3 * time.Hour, []string{"2h", "3h"}},
		"at the max already: none":         {4 * time.Hour, time.Hour, 4 * time.Hour, nil},
		"a minute under the max: the max":  {4*time.Hour - time.Minute, time.Minute, 4 * time.Hour, []string{"4h"}},
		"short TTLs past 30m and 1h first": {15 * time.Minute, 10 * time.Minute, time.Hour, []string{"30m", "1h"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := extendChoices(tt.cur, tt.left, tt.max); !slices.Equal(got, tt.want) {
				t.Errorf("extendChoices(%v, %v, %v) = %v; want %v", tt.cur, tt.left, tt.max, got, tt.want)
			}
		})
	}
}
