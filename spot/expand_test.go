package spot

import (
	"context"
	"path"
	"slices"
	"strings"
	"testing"
)

func TestExpandTypes(t *testing.T) {
	tests := []struct {
		name     string
		list     []string
		want     []string // must be among the result
		patterns []string // every result matches one of these (or is in want)
		denied   bool     // the credentials may not DescribeInstanceTypes
		wantWarn string
		wantCode string
	}{
		{name: "pattern only", list: []string{"c5.*"}, want: []string{"c5.large", "c5.xlarge"}, patterns: []string{"c5.*"}},
		{name: "mixed", list: []string{"c5.*", "m5.large"}, want: []string{"c5.large", "m5.large"}, patterns: []string{"c5.*", "m5.large"}},
		{name: "names only", list: []string{"m5.large", "m5.large"}, want: []string{"m5.large"}, patterns: []string{"m5.large"}},
		{name: "question mark", list: []string{"t3.micr?"}, want: []string{"t3.micro"}, patterns: []string{"t3.micr?"}},
		{name: "matches nothing", list: []string{"zz9.*"}, wantCode: "invalid_request"},
		{name: "catalogue denied: names only, with a warning", list: []string{"c5.*", "m5.large"}, denied: true,
			want: []string{"m5.large"}, patterns: []string{"m5.large"}, wantWarn: "patterns were not expanded"},
		{name: "catalogue denied, no names", list: []string{"c5.*"}, denied: true, wantCode: "aws_auth_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEnv(t)
			if tt.denied {
				if err := e.sim.InjectFault("DescribeInstanceTypes", "UnauthorizedOperation", 1, 0); err != nil {
					t.Fatal(err)
				}
			}
			got, warnings, err := e.client.ExpandTypes(context.Background(), e.creds, region, tt.list)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantWarn != "" && !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, tt.wantWarn) }) {
				t.Errorf("warnings %q lack %q", warnings, tt.wantWarn)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("ExpandTypes(%v) = %v; lacks %s", tt.list, got, w)
				}
			}
			for _, g := range got {
				if !slices.ContainsFunc(tt.patterns, func(p string) bool { ok, _ := path.Match(p, g); return ok }) {
					t.Errorf("ExpandTypes(%v) = %v; %s matches none of it", tt.list, got, g)
				}
			}
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("ExpandTypes(%v) = %v; want sorted, no duplicates", tt.list, got)
			}
		})
	}
}

// TestExpandTypesCached: the catalogue is read once per region, and a
// list without patterns needs no call at all.
func TestExpandTypesCached(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	if _, _, err := e.client.ExpandTypes(ctx, e.creds, region, []string{"m5.large"}); err != nil {
		t.Fatal(err)
	}
	if n := e.callCount("DescribeInstanceTypes"); n != 0 {
		t.Fatalf("names only: %d DescribeInstanceTypes calls; want 0", n)
	}
	for range 3 {
		if _, _, err := e.client.ExpandTypes(ctx, e.creds, region, []string{"t3.*"}); err != nil {
			t.Fatal(err)
		}
	}
	first := e.callCount("DescribeInstanceTypes")
	if first == 0 {
		t.Fatal("the catalogue was never read")
	}
	// The catalogue also fills the architecture cache: a launch of those
	// types asks EC2 nothing more about them.
	e.mustLaunch(t, func() LaunchSpec {
		s := e.spec("tokA", "exp", 1)
		s.InstanceTypes = []string{"t3.micro", "t3.small"}
		return s
	}())
	if n := e.callCount("DescribeInstanceTypes"); n != first {
		t.Errorf("DescribeInstanceTypes calls = %d after three expansions and a launch; want %d", n, first)
	}
}
