package policy

import (
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// TestCheckUsage proves that resolving once without usage and re-checking
// the usage rules later refuses exactly what resolving with the usage
// refuses, with the same error: the handler relies on it to resolve a
// launch once and re-check only maxRunning and maxHourlySpend at admission.
func TestCheckUsage(t *testing.T) {
	p := mustPolicy(t, `{"instanceTypes":["m5.large"],"amis":["ami-1111"],
		"maxCount":3,"maxRunning":5,"maxPrice":0.5,"maxHourlySpend":2}`)
	noCap := mustPolicy(t, `{"instanceTypes":["m5.large"],"amis":["ami-1111"],
		"maxCount":3,"maxRunning":5,"maxHourlySpend":2}`)
	tests := []struct {
		name     string
		pol      Policy
		req      Request
		usage    api.Usage
		wantRule string // "" = accepted
	}{
		{name: "nothing running", pol: p, req: Request{Task: "launch", Count: 3}},
		{name: "running at the limit", pol: p, req: Request{Task: "launch", Count: 3}, usage: api.Usage{Running: 2}},
		{name: "running past the limit", pol: p, req: Request{Task: "launch", Count: 3}, usage: api.Usage{Running: 3}, wantRule: "rule maxRunning"},
		{name: "spend at the limit", pol: p, req: Request{Task: "launch", Count: 3}, usage: api.Usage{HourlySpend: 0.5}},
		{name: "spend past the limit", pol: p, req: Request{Task: "launch", Count: 3}, usage: api.Usage{HourlySpend: 0.500001}, wantRule: "rule maxHourlySpend"},
		{name: "lower price fits the spend", pol: p, req: Request{Task: "launch", Count: 3, MaxPrice: 0.3}, usage: api.Usage{HourlySpend: 1.1}},
		{name: "both past: maxRunning first", pol: p, req: Request{Task: "launch", Count: 3}, usage: api.Usage{Running: 4, HourlySpend: 1.9}, wantRule: "rule maxRunning"},
		{name: "no price cap: spend left to admission", pol: noCap, req: Request{Task: "launch", Count: 3}, usage: api.Usage{HourlySpend: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.pol.ResolveLaunch(tt.req, api.Usage{})
			if err != nil {
				t.Fatalf("ResolveLaunch(%+v, api.Usage{}) = %v; want a launch", tt.req, err)
			}
			_, whole := tt.pol.ResolveLaunch(tt.req, tt.usage)
			late := tt.pol.CheckUsage(l, tt.usage)
			if tt.wantRule == "" {
				if whole != nil || late != nil {
					t.Fatalf("ResolveLaunch = %v, CheckUsage = %v; want both nil", whole, late)
				}
				return
			}
			for what, err := range map[string]error{"ResolveLaunch": whole, "CheckUsage": late} {
				if apperr.Code(err) != apperr.PolicyDenied || !strings.Contains(apperr.Details(err), tt.wantRule) {
					t.Errorf("%s = %v; want policy_denied naming %q", what, err, tt.wantRule)
				}
			}
			if apperr.Details(whole) != apperr.Details(late) {
				t.Errorf("CheckUsage says %q; ResolveLaunch says %q: want the same refusal", apperr.Details(late), apperr.Details(whole))
			}
		})
	}
}
