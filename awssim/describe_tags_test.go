package awssim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spotter-dev/spotter/awssim"
)

// tagWorld is a world with three launches, tagged spotter:token a (3
// instances), b (2) and c (1), in that order; ids names them a0…c0.
type tagWorld struct {
	*testWorld
	ids   map[string]string // a0 → instance id
	names map[string]string // instance id → a0
}

func mustTagWorld(t *testing.T) *tagWorld {
	t.Helper()
	w := &tagWorld{mustWorld(t, awssim.Options{TerminatedRetention: time.Hour}), map[string]string{}, map[string]string{}}
	for _, l := range []struct {
		token string
		n     int32
	}{{"a", 3}, {"b", 2}, {"c", 1}} {
		out, err := w.ec2.RunInstances(ctx(t), spotRun("", l.n, "spotter:token", l.token, "spotter:client-token", "ct-"+l.token))
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range out.Instances {
			name := l.token + string(rune('0'+i))
			w.ids[name] = aws.ToString(in.InstanceId)
			w.names[aws.ToString(in.InstanceId)] = name
		}
	}
	return w
}

func (w *tagWorld) id(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = w.ids[n]
	}
	return out
}

// describe returns the names of the instances found, in the order returned.
func (w *tagWorld) describe(t *testing.T, filters ...types.Filter) ([]string, error) {
	t.Helper()
	out, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{Filters: filters})
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			names = append(names, w.names[aws.ToString(in.InstanceId)])
		}
	}
	return names, nil
}

func (w *tagWorld) tag(t *testing.T, create bool, names []string, k string, v *string) {
	t.Helper()
	tags := []types.Tag{{Key: aws.String(k), Value: v}}
	var err error
	if create {
		_, err = w.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: w.id(names...), Tags: tags})
	} else {
		_, err = w.ec2.DeleteTags(ctx(t), &ec2.DeleteTagsInput{Resources: w.id(names...), Tags: tags})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (w *tagWorld) terminate(t *testing.T, names ...string) {
	t.Helper()
	if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: w.id(names...)}); err != nil {
		t.Fatal(err)
	}
}

func filt(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// TestDescribeInstancesTagIndex changes tags and instances in every way the
// tag index has to follow, then filters by tag: a stale index would drop or
// keep an instance here, or answer in the wrong order.
func TestDescribeInstancesTagIndex(t *testing.T) {
	tok := func(values ...string) types.Filter { return filt("tag:spotter:token", values...) }
	tests := []struct {
		name    string
		change  func(t *testing.T, w *tagWorld)
		filters []types.Filter
		want    []string
		wantErr string
	}{
		{name: "launch tags", filters: []types.Filter{tok("b")}, want: []string{"b0", "b1"}},
		{name: "absent value", filters: []types.Filter{tok("z")}, want: []string{}},
		{name: "absent key", filters: []types.Filter{filt("tag:owner", "a")}, want: []string{}},
		{name: "values union in launch order", filters: []types.Filter{tok("c", "a", "a")}, want: []string{"a0", "a1", "a2", "c0"}},
		{name: "no values match nothing", filters: []types.Filter{tok()}, want: []string{}},
		{name: "two tag filters intersect", filters: []types.Filter{tok("a", "b"), filt("tag:spotter:client-token", "ct-b", "ct-c")}, want: []string{"b0", "b1"}},
		{name: "tag and state", filters: []types.Filter{tok("a"), filt("instance-state-name", "running")},
			change: func(t *testing.T, w *tagWorld) { w.terminate(t, "a1") }, want: []string{"a0", "a2"}},
		{name: "create tags moves to another value", filters: []types.Filter{tok("b")},
			change: func(t *testing.T, w *tagWorld) {
				w.tag(t, true, []string{"a1", "c0"}, "spotter:token", aws.String("b"))
			},
			want: []string{"a1", "b0", "b1", "c0"}},
		{name: "create tags leaves the old value", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, true, []string{"a1"}, "spotter:token", aws.String("b")) },
			want:   []string{"a0", "a2"}},
		{name: "create tags adds a key", filters: []types.Filter{filt("tag:env", "ci")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, true, []string{"c0", "a2", "a2"}, "env", aws.String("ci")) },
			want:   []string{"a2", "c0"}},
		{name: "create tags with an empty value", filters: []types.Filter{filt("tag:env", "")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, true, []string{"b1"}, "env", aws.String("")) },
			want:   []string{"b1"}},
		{name: "delete tags by key", filters: []types.Filter{tok("b")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, false, []string{"b0"}, "spotter:token", nil) },
			want:   []string{"b1"}},
		{name: "delete tags with the same value", filters: []types.Filter{tok("b")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, false, []string{"b1"}, "spotter:token", aws.String("b")) },
			want:   []string{"b0"}},
		{name: "delete tags with another value keeps the tag", filters: []types.Filter{tok("b")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, false, []string{"b1"}, "spotter:token", aws.String("z")) },
			want:   []string{"b0", "b1"}},
		{name: "delete then create again", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) {
				w.tag(t, false, []string{"a0", "a1"}, "spotter:token", nil)
				w.tag(t, true, []string{"a1"}, "spotter:token", aws.String("a"))
			},
			want: []string{"a1", "a2"}},
		{name: "terminated kept for the retention", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) { w.terminate(t, "a0"); w.clock.Advance(59 * time.Minute) },
			want:   []string{"a0", "a1", "a2"}},
		{name: "terminated purged after the retention", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) { w.terminate(t, "a0", "a2"); w.clock.Advance(time.Hour) },
			want:   []string{"a1"}},
		{name: "terminations out of clock order", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) {
				// Concurrent calls read the clock before taking the lock, so
				// a later call can record an earlier termination.
				w.terminate(t, "a0")
				w.clock.Advance(-5 * time.Minute)
				w.terminate(t, "a1")
				w.clock.Advance(time.Hour + 2*time.Minute)
			},
			want: []string{"a0", "a2"}},
		{name: "purged gone from unfiltered too", filters: nil,
			change: func(t *testing.T, w *tagWorld) {
				w.terminate(t, "b1")
				w.clock.Advance(30 * time.Minute)
				w.terminate(t, "a0", "a1", "a2", "c0")
				w.clock.Advance(31 * time.Minute)
			},
			want: []string{"a0", "a1", "a2", "b0", "c0"}},
		{name: "purging most instances", filters: nil,
			change: func(t *testing.T, w *tagWorld) { w.terminate(t, "a0", "a1", "a2", "b0"); w.clock.Advance(time.Hour) },
			want:   []string{"b1", "c0"}},
		{name: "retagged then purged", filters: []types.Filter{filt("tag:spotter:token", "a", "b", "moved")},
			change: func(t *testing.T, w *tagWorld) {
				w.tag(t, true, []string{"b0"}, "spotter:token", aws.String("moved"))
				w.terminate(t, "b0")
				w.clock.Advance(2 * time.Hour)
			},
			want: []string{"a0", "a1", "a2", "b1"}},
		{name: "reset", filters: []types.Filter{tok("a")},
			change: func(t *testing.T, w *tagWorld) {
				w.sim.Reset()
				out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1, "spotter:token", "a"))
				if err != nil {
					t.Fatal(err)
				}
				w.names[aws.ToString(out.Instances[0].InstanceId)] = "new"
			},
			want: []string{"new"}},
		{name: "glob star", filters: []types.Filter{tok("b*", "c")}, want: []string{"b0", "b1", "c0"}},
		{name: "glob question mark", filters: []types.Filter{tok("?")}, want: []string{"a0", "a1", "a2", "b0", "b1", "c0"}},
		{name: "glob escape", filters: []types.Filter{tok(`\b`)}, want: []string{"b0", "b1"}},
		{name: "glob sees retagged", filters: []types.Filter{tok("x*")},
			change: func(t *testing.T, w *tagWorld) { w.tag(t, true, []string{"c0"}, "spotter:token", aws.String("xy")) },
			want:   []string{"c0"}},
		{name: "unknown filter after an unmatched tag", filters: []types.Filter{tok("z"), filt("no-such-filter", "x")}, want: []string{}},
		{name: "unknown filter before an unmatched tag", filters: []types.Filter{filt("no-such-filter", "x"), tok("z")}, wantErr: "InvalidParameterValue"},
		{name: "unknown filter after a matched tag", filters: []types.Filter{tok("c"), filt("no-such-filter", "x")}, wantErr: "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustTagWorld(t)
			if tt.change != nil {
				tt.change(t, w)
			}
			got, err := w.describe(t, tt.filters...)
			if tt.wantErr != "" {
				wantErr(t, err, tt.wantErr, http.StatusBadRequest)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("found [%s]; want [%s]", strings.Join(got, " "), strings.Join(tt.want, " "))
			}
		})
	}
}

// TestDescribeInstancesTagPages pages through a tag-filtered result whose
// matches are spread among non-matching instances, and checks the pages and
// their tokens against the same filter written as a glob, which scans.
func TestDescribeInstancesTagPages(t *testing.T) {
	w := mustWorld(t, awssim.Options{})
	var all []string
	for i := range 24 {
		token := "x"
		if i%3 == 1 {
			token = "y"
		}
		out, err := w.ec2.RunInstances(ctx(t), spotRun("", 1, "spotter:token", token))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, aws.ToString(out.Instances[0].InstanceId))
	}
	// Move an early y to x so one match is indexed out of launch order.
	if _, err := w.ec2.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: all[1:2], Tags: []types.Tag{{Key: aws.String("spotter:token"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	// Terminations a page boundary can fall on.
	if _, err := w.ec2.TerminateInstances(ctx(t), &ec2.TerminateInstancesInput{InstanceIds: []string{all[5], all[6]}}); err != nil {
		t.Fatal(err)
	}
	pages := func(values ...string) (ids, tokens []string) {
		var next *string
		for {
			out, err := w.ec2.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{
				Filters:    []types.Filter{filt("tag:spotter:token", values...), filt("instance-state-name", "pending", "running")},
				MaxResults: aws.Int32(5), NextToken: next,
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					ids = append(ids, aws.ToString(in.InstanceId))
					n++
				}
			}
			if n > 5 {
				t.Fatalf("page of %d with MaxResults 5", n)
			}
			if next = out.NextToken; next == nil {
				return ids, tokens
			}
			tokens = append(tokens, *next)
		}
	}
	var want []string
	for i, id := range all {
		if (i%3 != 1 || i == 1) && i != 5 && i != 6 {
			want = append(want, id)
		}
	}
	gotIDs, gotTokens := pages("x")
	if strings.Join(gotIDs, " ") != strings.Join(want, " ") {
		t.Errorf("pages by tag found\n%v\nwant\n%v", gotIDs, want)
	}
	scanIDs, scanTokens := pages(`\x`)
	if strings.Join(gotIDs, " ") != strings.Join(scanIDs, " ") || strings.Join(gotTokens, " ") != strings.Join(scanTokens, " ") {
		t.Errorf("exact and glob filters page differently:\n%v %v\n%v %v", gotIDs, gotTokens, scanIDs, scanTokens)
	}
	if wantTokens := (len(want) - 1) / 5; len(gotTokens) != wantTokens {
		t.Errorf("%d matches in pages of 5 gave %d tokens; want %d", len(want), len(gotTokens), wantTokens)
	}
}
