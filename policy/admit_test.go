package policy

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// TestAdmit: what a launch (a task's, with its count and maxPrice; a
// pool's, with the most it can start and no price) holds and is refused
// for under maxRunning 5 and maxHourlySpend 2, at the limits and one past.
func TestAdmit(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["m5.large"],"amis":["ami-1111"],"maxCount":3,"maxRunning":5,"maxHourlySpend":2}`)
	tests := map[string]struct {
		launch   api.Launch
		usage    api.Usage
		inFlight api.Usage
		cap      float64
		hold     Hold
		wantRule string // "" = admitted
		wantIn   string // part of the refusal's details
	}{
		"a pool's launch, nothing running":       {launch: api.Launch{Count: 3}, cap: 2, hold: Hold{Count: 3, Spend: 2}},
		"a pool's launch at maxRunning":          {launch: api.Launch{Count: 3}, usage: api.Usage{Running: 2, HourlySpend: 0.5}, cap: 1.5, hold: Hold{Count: 3, Spend: 1.5}},
		"one past maxRunning":                    {launch: api.Launch{Count: 3}, usage: api.Usage{Running: 3}, wantRule: "rule maxRunning"},
		"one past, counting launches in flight":  {launch: api.Launch{Count: 3}, usage: api.Usage{Running: 3, HourlySpend: 0.2}, inFlight: api.Usage{Running: 2, HourlySpend: 0.2}, wantRule: "rule maxRunning", wantIn: "counting 2 instances, $0.2000/h, of launches of this token in flight"},
		"the spend used up":                      {launch: api.Launch{Count: 1}, usage: api.Usage{Running: 1, HourlySpend: 2}, wantRule: "rule maxHourlySpend", wantIn: "$2.0000/h already running of $2.0000/h"},
		"maxPrice bounds what it holds":          {launch: api.Launch{Count: 2, MaxPrice: 0.25}, usage: api.Usage{HourlySpend: 1}, cap: 0.5, hold: Hold{Count: 2, Spend: 0.5}},
		"maxPrice past the spend left":           {launch: api.Launch{Count: 2, MaxPrice: 0.75}, usage: api.Usage{HourlySpend: 1}, wantRule: "rule maxHourlySpend"},
		"a dry run is checked and holds nothing": {launch: api.Launch{Count: 3, DryRun: true}, usage: api.Usage{HourlySpend: 1}, cap: 1},
		"a dry run one past maxRunning":          {launch: api.Launch{Count: 3, DryRun: true}, usage: api.Usage{Running: 3}, wantRule: "rule maxRunning"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			fleetCap, hold, err := p.Admit(tt.launch, tt.usage, tt.inFlight)
			if tt.wantRule == "" {
				if err != nil || fleetCap != tt.cap || hold != tt.hold {
					t.Fatalf("Admit = %v, %+v, %v; want %v, %+v, admitted", fleetCap, hold, err, tt.cap, tt.hold)
				}
				return
			}
			d := apperr.Details(err)
			if apperr.Code(err) != apperr.PolicyDenied || !strings.HasPrefix(d, tt.wantRule) || !strings.Contains(d, tt.wantIn) || hold != (Hold{}) {
				t.Fatalf("Admit = %v, %+v; want %s refusing by %q with %q", err, hold, apperr.PolicyDenied, tt.wantRule, tt.wantIn)
			}
		})
	}
}
