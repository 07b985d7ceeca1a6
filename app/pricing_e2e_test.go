package app_test

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/spot/ondemand"
)

// A price task through `serve` quotes the on-demand price the Price List
// API gives (awssim, named by AWS_ENDPOINT_URL_PRICING), asking once per
// type; with GetProducts denied, the bundled table answers and the reply's
// warnings name its date.
func TestPriceTaskOnDemandEndToEnd(t *testing.T) {
	s := startStack(t, "embedded")
	pol := `{"regions":["us-east-1"],"instanceTypes":["m5a.large","g6.xlarge"],"amis":["ami-0123456789abcdef0"],"maxCount":1,"maxTTL":"1h","tasks":["price"]}`
	url := s.createToken(t, `{"name":"prices","credentials":`+keysJSON()+`,"policy":`+pol+`}`)["url"].(string)
	table, err := ondemand.Bundled()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, itype string
		deny        bool
		wantCalls   int
	}{
		{name: "Price List API", itype: "m5a.large", wantCalls: 1},
		{name: "asked again: cached", itype: "m5a.large", wantCalls: 1},
		{name: "denied: bundled table", itype: "g6.xlarge", deny: true, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.deny {
				if err := s.sim.InjectFault("GetProducts", "AccessDeniedException", 1, 0); err != nil {
					t.Fatal(err)
				}
			}
			code, v, raw := s.task(t, url, `{"task":"price","instanceTypes":["`+tt.itype+`"]}`, nil)
			if code != 200 {
				t.Fatalf("price = %d %s", code, raw)
			}
			want, _ := s.sim.OnDemandPrice("us-east-1", tt.itype)
			quotes, _ := v["prices"].([]any)
			if len(quotes) == 0 {
				t.Fatalf("no quotes: %s", raw)
			}
			for _, q := range quotes {
				if od, _ := q.(map[string]any)["onDemand"].(float64); od != want || want == 0 {
					t.Errorf("quote %v; want onDemand %v", q, want)
				}
			}
			named := strings.Contains(raw, "bundled price table of "+table.Date()) && strings.Contains(raw, "pricing:GetProducts")
			if named != tt.deny {
				t.Errorf("reply %s; names the table and the permission: %v, want %v", raw, named, tt.deny)
			}
			if n := s.sim.Calls("GetProducts"); n != tt.wantCalls {
				t.Errorf("%d GetProducts calls; want %d", n, tt.wantCalls)
			}
		})
	}
}
