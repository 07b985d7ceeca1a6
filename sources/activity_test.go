package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	faketc "github.com/spotter-dev/spotter/internal/fakeci/taskcluster"
	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
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
			map[string]pool.Activity{a: {Done: 1, LastDone: at(4)}}},
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

// TestGitHubDeliveriesNameInstances: in_progress names the runner, so
// the job runs on its instance; completed ends it there at the delivery's
// time.
func TestGitHubDeliveriesNameInstances(t *testing.T) {
	const secret, inst = "whsec", "i-0123456789abcdef0"
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	r := newRig(t, func() time.Time { return now }, map[string]json.RawMessage{"github": json.RawMessage(`{"webhookSecret": "` + secret + `"}`)})
	deliver := func(id, action, runner string) {
		t.Helper()
		body := []byte(fmt.Sprintf(`{"action": %q, "workflow_job": {"id": 7, "labels": ["linux"], "runner_name": %q},
			"repository": {"full_name": "octo/app"}}`, action, runner))
		out, err := r.s.GitHub(context.Background(), r.rec, Delivery{Event: "workflow_job", ID: id, Signature: sign(secret, body), Body: body, JSON: true})
		if err != nil || out.Outcome != Counted {
			t.Fatalf("%s: %+v, %v", action, out, err)
		}
	}
	activity := func() map[string]pool.Activity {
		t.Helper()
		a, err := r.s.Activity(context.Background(), "ci")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	deliver("d-1", "queued", "")
	if a := activity(); len(a) != 0 {
		t.Fatalf("queued: %v", a)
	}
	deliver("d-2", "in_progress", inst+"-2")
	if a := activity(); !reflect.DeepEqual(a, map[string]pool.Activity{inst: {Running: 1}}) {
		t.Fatalf("in_progress: %v", a)
	}
	now = now.Add(5 * time.Minute)
	deliver("d-3", "completed", inst+"-2")
	if a := activity(); !reflect.DeepEqual(a, map[string]pool.Activity{inst: {Done: 1, LastDone: now}}) {
		t.Fatalf("completed: %v", a)
	}
}

// TestTaskclusterClaimsNameInstances: each poll lists the queue's claimed
// tasks with their workerId: a claimed task runs on its worker's
// instance, and one no longer claimed is done at that poll. Without
// queue:claimed-list the tasks are left as they were.
func TestTaskclusterClaimsNameInstances(t *testing.T) {
	const q, inst = "proj-ci/linux", "i-0123456789abcdef0"
	ctx := context.Background()
	clock := testclock.New(time.Now().UTC().Truncate(time.Second))
	tc := faketc.Start(t)
	tc.SetClock(clock.Now)
	tc.AddClient("project/ci/spotter", "tc-secret", "queue:pending-count:"+q, "queue:claimed-count:"+q, "queue:claimed-list:"+q)
	tc.AddClient("project/ci/nolist", "tc-secret2", "queue:pending-count:"+q, "queue:claimed-count:"+q)
	r := newRig(t, clock.Now, map[string]json.RawMessage{"taskcluster": json.RawMessage(
		`{"rootUrl": "` + tc.RootURL + `", "taskQueueId": "` + q + `", "clientId": "project/ci/spotter", "accessToken": "tc-secret"}`)})
	activity := func() map[string]pool.Activity {
		t.Helper()
		if err := r.s.Poll(ctx, r.rec); err != nil {
			t.Fatal(err)
		}
		a, err := r.s.Activity(ctx, "ci")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var tasks []string
	for _, w := range []string{inst, inst + "-2", "someone-elses-worker"} {
		if _, err := tc.CreateTask(q); err != nil {
			t.Fatal(err)
		}
		id, err := tc.ClaimTask(q, "spotter", w)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, id)
	}
	if a := activity(); !reflect.DeepEqual(a, map[string]pool.Activity{inst: {Running: 2}}) {
		t.Fatalf("claimed: %v", a)
	}
	clock.Add(time.Minute)
	if err := tc.ResolveTask(tasks[0]); err != nil {
		t.Fatal(err)
	}
	if a := activity(); !reflect.DeepEqual(a, map[string]pool.Activity{inst: {Running: 1, Done: 1, LastDone: clock.Now()}}) {
		t.Fatalf("one resolved: %v", a)
	}
	// The demand counts the queue's numbers only: the tracked tasks are
	// the poller's, not counted again.
	if rec, _ := r.pools.Get(ctx, "ci"); rec.Demand == nil || rec.Demand.Running != 2 {
		t.Fatalf("demand %+v; want the queue's 2 claimed", rec.Demand)
	}
	// A client without queue:claimed-list: the counts go on, the tasks
	// are left as they were (not all done).
	if _, err := r.s.Patch(ctx, "ci", map[string]json.RawMessage{"taskcluster": json.RawMessage(`{"clientId": "project/ci/nolist", "accessToken": "tc-secret2"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := tc.ResolveTask(tasks[1]); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	if a := activity(); a[inst].Running != 1 {
		t.Fatalf("without the list scope: %v; want the last seen", a)
	}
}

// countingStore counts the records read under a prefix.
type countingStore struct {
	store
	prefix string
	gets   atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (secrets.Record, error) {
	if strings.HasPrefix(key, c.prefix) {
		c.gets.Add(1)
	}
	return c.store.Get(ctx, key)
}

// TestActivityReadsOnlyMovedShards: a replica's Activity reads the head
// (only it, for a pool that never tracked a job) and only the shards
// whose jobs moved since it last read them, and sees what another
// replica's deliveries changed. (The pool's record is read too, outside
// the counted prefix.)
func TestActivityReadsOnlyMovedShards(t *testing.T) {
	base, _ := storetest.Embedded(t, nil)
	cs := &countingStore{store: base, prefix: TrackerPrefix}
	r := ghRigOn(t, cs, nil)
	other, err := New(Deps{Store: base, Pools: r.pools})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const inst = "i-0123456789abcdef0"
	reads := func() (map[string]pool.Activity, int64) {
		t.Helper()
		before := cs.gets.Load()
		a, err := r.s.Activity(ctx, "ci")
		if err != nil {
			t.Fatal(err)
		}
		return a, cs.gets.Load() - before
	}
	if a, n := reads(); n != 1 || len(a) != 0 {
		t.Fatalf("a pool that never tracked a job: %d records read, %v; want the head's absence alone", n, a)
	}
	if _, err := deliver(other, r, "d-0", 6, "queued", ""); err != nil {
		t.Fatal(err)
	}
	if a, n := reads(); n != 2 || len(a) != 0 {
		t.Fatalf("one job queued: %d records read, %v; want the head and the one shard with a count", n, a)
	}
	if a, n := reads(); n != 1 || len(a) != 0 {
		t.Fatalf("nothing moved: %d records read, %v; want the head alone", n, a)
	}
	if _, err := deliver(other, r, "d-1", 7, "in_progress", inst+"-1"); err != nil {
		t.Fatal(err)
	}
	a, n := reads()
	if n != 2 || a[inst].Running != 1 {
		t.Fatalf("after another replica's delivery: %d records read, %v; want the head and one shard, %s running", n, a, inst)
	}
}
