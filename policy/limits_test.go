package policy

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Prices and spend caps hold exactly at their ceilings and not past them;
// reserved tag prefixes are refused in any case.
func TestPolicyLimitsAtTheEdge(t *testing.T) {
	base := `"instanceTypes":["t3.micro"],"amis":["ami-1234"]`
	tests := map[string]struct {
		json    string
		wantErr string // substring of details; "" = valid
	}{
		"maxPrice at the ceiling":         {json: `"maxPrice":1000`},
		"maxPrice past the ceiling":       {json: `"maxPrice":1000.000001`, wantErr: "policy.maxPrice"},
		"maxPrice 1e308":                  {json: `"maxPrice":1e308`, wantErr: "policy.maxPrice"},
		"maxPrice negative":               {json: `"maxPrice":-0.01`, wantErr: "policy.maxPrice"},
		"maxHourlySpend at the ceiling":   {json: `"maxHourlySpend":1000000`},
		"maxHourlySpend past the ceiling": {json: `"maxHourlySpend":1000000.01`, wantErr: "policy.maxHourlySpend"},
		"maxHourlySpend negative":         {json: `"maxHourlySpend":-1`, wantErr: "policy.maxHourlySpend"},
		"preset price at the ceiling":     {json: `"presets":{"big":{"maxPrice":1000}}`},
		"preset price past the ceiling":   {json: `"presets":{"big":{"maxPrice":1000.5}}`, wantErr: "presets.big.maxPrice"},
		"preset price at policy maxPrice": {json: `"maxPrice":2,"presets":{"big":{"maxPrice":2}}`},
		"preset price past policy's":      {json: `"maxPrice":2,"presets":{"big":{"maxPrice":2.01}}`, wantErr: "presets.big.maxPrice"},
		"tag SPOTTER:token":               {json: `"tags":{"SPOTTER:token":"x"}`, wantErr: "policy.tags"},
		"tag Spotter:Pool":                {json: `"tags":{"Spotter:Pool":"x"}`, wantErr: "policy.tags"},
		"tag sPoTtEr:x":                   {json: `"tags":{"sPoTtEr:x":"x"}`, wantErr: "policy.tags"},
		"tag AWS:x":                       {json: `"tags":{"AWS:x":"x"}`, wantErr: "policy.tags"},
		"tag Aws:cloudformation":          {json: `"tags":{"Aws:cloudformation":"x"}`, wantErr: "policy.tags"},
		"tag spotter without colon":       {json: `"tags":{"spotter":"x","Spotter-team":"y","awsome":"z"}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var p Policy
			if err := json.Unmarshal([]byte(`{`+base+`,`+tt.json+`}`), &p); err != nil {
				t.Fatal(err)
			}
			err := p.Normalize("us-east-1")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Normalize = %v", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), tt.wantErr) {
				t.Fatalf("Normalize = %v; want invalid_request naming %s", err, tt.wantErr)
			}
		})
	}
}

// NaN cannot be written in JSON, but a Policy built in Go is held to the
// same rule.
func TestPolicyNonFinitePrices(t *testing.T) {
	for name, v := range map[string]float64{"NaN": math.NaN(), "+Inf": math.Inf(1)} {
		for _, field := range []string{"maxPrice", "maxHourlySpend"} {
			p := Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-1234"}}
			if field == "maxPrice" {
				p.MaxPrice = v
			} else {
				p.MaxHourlySpend = v
			}
			if err := p.Normalize("us-east-1"); apperr.Code(err) != apperr.Invalid || !strings.Contains(apperr.Details(err), field) {
				t.Errorf("%s %s: Normalize = %v; want invalid_request naming it", field, name, err)
			}
		}
	}
}

// With no policy maxPrice, a request's price is still bounded; body tags
// are held to the same reserved prefixes in any case.
func TestResolveLaunchPriceAndTagBounds(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["t3.micro"],"amis":["ami-1111"],"maxCount":2}`)
	tests := map[string]struct {
		req  Request
		want string // error code; "" = resolves
	}{
		"price at the ceiling":   {req: Request{MaxPrice: MaxPriceCeiling}},
		"price past the ceiling": {req: Request{MaxPrice: MaxPriceCeiling + 1e-6}, want: apperr.Invalid},
		"price 1e308":            {req: Request{MaxPrice: 1e308}, want: apperr.Invalid},
		"price +Inf":             {req: Request{MaxPrice: math.Inf(1)}, want: apperr.Invalid},
		"price NaN":              {req: Request{MaxPrice: math.NaN()}, want: apperr.Invalid},
		"price negative":         {req: Request{MaxPrice: -1}, want: apperr.Invalid},
		"tag Spotter:Token":      {req: Request{Tags: map[string]string{"Spotter:Token": "other"}}, want: apperr.Invalid},
		"tag AWS:x":              {req: Request{Tags: map[string]string{"AWS:x": "1"}}, want: apperr.Invalid},
		"tag plain":              {req: Request{Tags: map[string]string{"Team": "ci"}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tt.req.Task, tt.req.AMI = api.TaskLaunch, "ami-1111"
			l, err := p.ResolveLaunch(tt.req, api.Usage{})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ResolveLaunch = %v", err)
				}
				if tt.req.MaxPrice != 0 && l.MaxPrice != tt.req.MaxPrice {
					t.Errorf("MaxPrice = %v; want %v", l.MaxPrice, tt.req.MaxPrice)
				}
				return
			}
			if apperr.Code(err) != tt.want {
				t.Fatalf("ResolveLaunch = %+v, %v; want %s", l, err, tt.want)
			}
		})
	}
}
