package policy

import (
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// TestCheckExtend: an extension is a task the policy must name, with a
// TTL up to maxTTL, at it included; a policy naming it arms guards at
// maxTTL.
func TestCheckExtend(t *testing.T) {
	allows := Policy{Regions: []string{"us-east-1"}, Tasks: []string{api.TaskLaunch, api.TaskExtend}, MaxTTL: Duration(4 * time.Hour)}
	not := Policy{Regions: []string{"us-east-1"}, Tasks: []string{api.TaskLaunch}, MaxTTL: Duration(4 * time.Hour)}
	tests := map[string]struct {
		p        Policy
		ttl      time.Duration
		wantCode string
	}{
		"within":              {allows, 2 * time.Hour, ""},
		"at maxTTL":           {allows, 4 * time.Hour, ""},
		"a second past":       {allows, 4*time.Hour + time.Second, apperr.PolicyDenied},
		"no ttl":              {allows, 0, apperr.Invalid},
		"negative":            {allows, -time.Hour, apperr.Invalid},
		"a policy without it": {not, time.Hour, apperr.PolicyDenied},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tt.p.Check(Request{Task: api.TaskExtend, TTL: tt.ttl})
			if got := apperr.Code(err); (err == nil) != (tt.wantCode == "") || (err != nil && got != tt.wantCode) {
				t.Errorf("Check(extend %s) = %v; want %q", tt.ttl, err, tt.wantCode)
			}
		})
	}
	if g := allows.GuardTTL(); g != 4*time.Hour {
		t.Errorf("GuardTTL of a policy allowing extend = %s; want maxTTL", g)
	}
	if g := not.GuardTTL(); g != 0 {
		t.Errorf("GuardTTL of a policy without extend = %s; want 0 (the launch's TTL)", g)
	}
	p := Policy{InstanceTypes: []string{"t3.micro"}, AMIs: []string{"ami-1234"}}
	if err := p.Normalize("us-east-1"); err != nil {
		t.Fatal(err)
	}
	if p.Allows(api.TaskExtend) {
		t.Error("a policy naming no tasks allows extend; it must be asked for")
	}
}
