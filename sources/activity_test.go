package sources

import (
	"reflect"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/pool"
)

// TestInstanceOf: the names spotter's templates give agents carry their
// instance's id; other names carry none.
func TestInstanceOf(t *testing.T) {
	tests := map[string]string{
		"i-0123456789abcdef0":       "i-0123456789abcdef0", // a JIT runner, a single generic-worker
		"i-0123456789abcdef0-1":     "i-0123456789abcdef0", // buildkite-agent's %spawn, runner n
		"i-0123456789abcdef0-12":    "i-0123456789abcdef0",
		"i-0123456789abcdef0-9999":  "i-0123456789abcdef0",
		"i-12345678":                "i-12345678", // the old 8-digit ids
		"i-1234567":                 "",           // too short for an instance id
		"i-0123456789abcdef01":      "",           // too long
		"i-0123456789abcdef0-":      "",
		"i-0123456789abcdef0-x":     "",
		"i-0123456789abcdef0-12345": "",
		"I-0123456789ABCDEF0":       "",
		"ip-10-0-0-1":               "",
		"my-runner-1":               "",
		"":                          "",
		"x i-0123456789abcdef0":     "",
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := InstanceOf(name); got != want {
				t.Errorf("InstanceOf(%q) = %q, want %q", name, got, want)
			}
		})
	}
}

// TestTrackerActivity: jobs that named an instance say what runs on it and
// when it last finished one; a job with no runner, or a runner that names
// no instance, says nothing; a late state never moves a job back.
func TestTrackerActivity(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	const a, b = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2"
	type ev struct {
		job    string
		state  int
		runner string
		at     int
	}
	tests := map[string]struct {
		events []ev
		want   map[string]pool.Activity
	}{
		"queued names nothing": {[]ev{{"j1", Queued, "", 0}}, map[string]pool.Activity{}},
		"running on a": {[]ev{{"j1", Queued, "", 0}, {"j1", Running, a + "-1", 1}},
			map[string]pool.Activity{a: {Running: 1}}},
		"done on a, ended at its completion": {[]ev{{"j1", Running, a + "-1", 1}, {"j1", Done, a + "-1", 7}},
			map[string]pool.Activity{a: {Done: 1, LastDone: at(7)}}},
		"completed with no runner (cancelled before it ran) names nothing": {[]ev{{"j1", Queued, "", 0}, {"j1", Done, "", 3}},
			map[string]pool.Activity{}},
		"the runner from in_progress is kept when completed names none": {[]ev{{"j1", Running, a, 1}, {"j1", Done, "", 4}},
			map[string]pool.Activity{a: {Done: 1, LastDone: at(4), Sole: true}}},
		"a redelivered completed does not move the end": {[]ev{{"j1", Done, a + "-2", 4}, {"j1", Done, a + "-2", 9}},
			map[string]pool.Activity{a: {Done: 1, LastDone: at(4)}}},
		"two instances, the last end of each": {[]ev{{"j1", Done, a + "-1", 4}, {"j2", Done, a + "-2", 6}, {"j3", Running, a + "-1", 7},
			{"j4", Running, b + "-1", 2}}, map[string]pool.Activity{a: {Running: 1, Done: 2, LastDone: at(6)}, b: {Running: 1}}},
		"a runner not of spotter's naming": {[]ev{{"j1", Running, "build-box-3", 1}}, map[string]pool.Activity{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var tr Tracker
			for _, e := range tc.events {
				tr.Advance(e.job, e.state, "o/r", e.runner, at(e.at))
			}
			if got := tr.Activity(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("activity %+v, want %+v", got, tc.want)
			}
		})
	}
}
