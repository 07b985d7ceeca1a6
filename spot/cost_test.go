package spot

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/money"
)

// floatNoise matches a number with more decimals than a micro-dollar has:
// what binary floating point prints for sums such as 0.14239999999999992.
var floatNoise = regexp.MustCompile(`\d\.\d{7,}`)

// TestStatusCost: cost so far is kept to the micro-dollar, for live
// instances and for those that ended (EC2's state transition time), the
// total is the sum, and the JSON carries no float noise.
func TestStatusCost(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	spec := e.spec("tokA", "cost", 4)
	spec.TTL = 4 * time.Hour
	launched := e.mustLaunch(t, spec).Instances
	if len(launched) != 4 {
		t.Fatalf("launched %d; want 4", len(launched))
	}
	e.clock.Add(90 * time.Minute)
	ended := launched[0].ID
	if _, err := e.client.Terminate(ctx, e.creds, region, "tokA", []string{ended}, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(37*time.Minute + 13*time.Second)

	st, err := e.client.Status(ctx, e.creds, region, "tokA", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		live  bool
		hours float64
	}{
		{name: "ended after 90 minutes", live: false, hours: 1.5},
		{name: "still running", live: true, hours: 1.5 + (37*60+13)/3600.0},
	}
	var total, hourly money.USD
	for _, in := range st.Instances {
		total += in.CostSoFar
		if isLive(in.State) {
			hourly += in.Price
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := 0
			for _, in := range st.Instances {
				if (in.ID != ended) != tt.live {
					continue
				}
				seen++
				if in.Price <= 0 {
					t.Fatalf("%s has no price", in.ID)
				}
				if want := in.Price.ForHours(tt.hours); in.CostSoFar != want || want == 0 {
					t.Errorf("%s (%s, $%s/h) costSoFar = %s; want %s", in.ID, in.State, in.Price, in.CostSoFar, want)
				}
			}
			if seen == 0 {
				t.Fatal("no such instance in status")
			}
		})
	}
	if st.CostSoFar != total || st.HourlyCost != hourly {
		t.Errorf("status costSoFar %s, hourlyCost %s; want the sums %s, %s", st.CostSoFar, st.HourlyCost, total, hourly)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if m := floatNoise.FindString(string(b)); m != "" {
		t.Errorf("status JSON has float noise %q:\n%s", m, b)
	}
	var back struct {
		CostSoFar  json.Number `json:"costSoFar"`
		HourlyCost json.Number `json:"hourlyCost"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.CostSoFar.String() != total.String() || back.HourlyCost.String() != hourly.String() {
		t.Errorf("JSON costSoFar %s hourlyCost %s; want %s, %s", back.CostSoFar, back.HourlyCost, total, hourly)
	}
}
