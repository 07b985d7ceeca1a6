package sources

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/pool"
)

// Job states only move forward: a delivery that arrives late (queued after
// in_progress, or any event after completed) changes nothing, so neither
// redelivery nor reordering counts a job twice.
const (
	Queued  = 1
	Running = 2
	Done    = 3
)

// Retention of what a tracker remembers. GitHub redelivers for up to 3
// days (7 on GHES); a delivery id remembered that long is refused that
// long. Jobs done are kept a day so a late "queued" stays a no-op; open
// jobs older than MaxOpenAge are dropped (GitHub fails a job queued 24 h).
const (
	DeliveryRetention = 7 * 24 * time.Hour
	DoneRetention     = 24 * time.Hour
	MaxOpenAge        = 48 * time.Hour
	// MaxDeliveries and MaxJobs bound one pool's record whatever is sent:
	// past them the oldest are forgotten first.
	MaxDeliveries = 5000
	MaxJobs       = 5000
)

// Job is one CI job a source follows.
type Job struct {
	State  int    `json:"s"`
	Repo   string `json:"r,omitempty"` // GitHub: owner/name, for the reconcile's look-up
	Runner string `json:"n,omitempty"`
	// Instance is the EC2 instance the runner's name names ("" when it
	// names none): the templates name agents "<instance id>-<n>".
	Instance string    `json:"i,omitempty"`
	At       time.Time `json:"t"`          // first seen
	Ended    time.Time `json:"e,omitzero"` // when it was seen done
}

// agentRe is an agent's name as spotter's templates give it: the
// instance id alone (a JIT runner, a single generic-worker) or followed by
// the agent's index (buildkite-agent's "%spawn", runner and worker n).
var agentRe = regexp.MustCompile(`^(i-[0-9a-f]{8,17})(?:-([0-9]{1,4}))?$`)

// InstanceOf is the instance id an agent's name carries, "" when none.
func InstanceOf(agent string) string {
	m := agentRe.FindStringSubmatch(agent)
	if m == nil {
		return ""
	}
	return m[1]
}

// Tracker is what the sources of one pool remember, in one shard: jobs by
// source-qualified id ("github:123") and the delivery ids taken for them.
type Tracker struct {
	Jobs       map[string]Job       `json:"jobs"`
	Deliveries map[string]time.Time `json:"deliveries"`
	// Legacy are delivery ids taken before the sharded layout, whose job
	// was not recorded: kept by the id's own shard until they expire.
	Legacy map[string]time.Time `json:"legacy,omitempty"`
}

func (t *Tracker) init() {
	if t.Jobs == nil {
		t.Jobs = map[string]Job{}
	}
	if t.Deliveries == nil {
		t.Deliveries = map[string]time.Time{}
	}
}

// Take records delivery id at now, or reports false when it was taken.
func (t *Tracker) Take(id string, now time.Time) bool {
	t.init()
	if t.Taken(id) {
		return false
	}
	t.Deliveries[id] = now
	return true
}

// Taken reports whether delivery id was taken.
func (t *Tracker) Taken(id string) bool {
	_, ok := t.Deliveries[id]
	_, old := t.Legacy[id]
	return ok || old
}

// merge adds other's jobs (each at the furthest state of the two) and
// delivery ids, and reports whether anything changed.
func (t *Tracker) merge(other Tracker) bool {
	t.init()
	changed := false
	for k, j := range other.Jobs {
		if cur, ok := t.Jobs[k]; !ok || j.State > cur.State {
			t.Jobs[k] = j
			changed = true
		}
	}
	for id, at := range other.Deliveries {
		if _, ok := t.Deliveries[id]; !ok {
			t.Deliveries[id] = at
			changed = true
		}
	}
	for id, at := range other.Legacy {
		if _, ok := t.Legacy[id]; !ok {
			if t.Legacy == nil {
				t.Legacy = map[string]time.Time{}
			}
			t.Legacy[id] = at
			changed = true
		}
	}
	return changed
}

// counts are the pending and running jobs per source.
func (t *Tracker) counts() map[string][2]int {
	out := map[string][2]int{}
	for k, j := range t.Jobs {
		if j.State != Queued && j.State != Running {
			continue
		}
		c := out[source(k)]
		c[j.State-Queued]++
		out[source(k)] = c
	}
	return out
}

// Advance moves job key to state (with runner and repo when given) and
// reports whether anything changed. A state at or behind the known one
// is a no-op.
func (t *Tracker) Advance(key string, state int, repo, runner string, now time.Time) bool {
	t.init()
	j, ok := t.Jobs[key]
	if ok && state <= j.State {
		return false
	}
	if !ok {
		j.At = now
	}
	j.State = state
	if state == Done {
		j.Ended = now
	}
	if repo != "" {
		j.Repo = repo
	}
	if runner != "" {
		j.Runner, j.Instance = runner, InstanceOf(runner)
	}
	t.Jobs[key] = j
	return true
}

// Activity is, per instance its jobs name, the jobs running on it, those
// it finished, and when it finished the last.
func (t *Tracker) Activity() map[string]pool.Activity {
	out := map[string]pool.Activity{}
	for _, j := range t.Jobs {
		addActivity(out, j)
	}
	return out
}

func addActivity(out map[string]pool.Activity, j Job) {
	if j.Instance == "" {
		return
	}
	a := out[j.Instance]
	switch j.State {
	case Running:
		a.Running++
	case Done:
		a.Done++
		if j.Ended.After(a.LastDone) {
			a.LastDone = j.Ended
		}
	default:
		return
	}
	out[j.Instance] = a
}

// Counts are the jobs waiting and running.
func (t *Tracker) Counts() (pending, running int) {
	for _, j := range t.Jobs {
		switch j.State {
		case Queued:
			pending++
		case Running:
			running++
		}
	}
	return pending, running
}

// Prune forgets deliveries and jobs past their retention, then the oldest
// past the caps, and reports whether it forgot anything.
func (t *Tracker) Prune(now time.Time, maxJobs, maxDeliveries int) bool {
	t.init()
	n := len(t.Jobs) + len(t.Deliveries) + len(t.Legacy)
	for id, at := range t.Deliveries {
		if now.Sub(at) > DeliveryRetention {
			delete(t.Deliveries, id)
		}
	}
	for id, at := range t.Legacy {
		if now.Sub(at) > DeliveryRetention {
			delete(t.Legacy, id)
		}
	}
	for k, j := range t.Jobs {
		age := now.Sub(j.At)
		if (j.State == Done && age > DoneRetention) || age > MaxOpenAge {
			delete(t.Jobs, k)
		}
	}
	trim(t.Deliveries, maxDeliveries, func(at time.Time) time.Time { return at })
	trim(t.Jobs, maxJobs, func(j Job) time.Time { return j.At })
	return len(t.Jobs)+len(t.Deliveries)+len(t.Legacy) != n
}

// trim drops the oldest entries of m past max (ties by key, so every
// replica drops the same ones).
func trim[V any](m map[string]V, max int, at func(V) time.Time) {
	if len(m) <= max {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		ta, tb := at(m[keys[a]]), at(m[keys[b]])
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return keys[a] < keys[b]
	})
	for _, k := range keys[:len(m)-max] {
		delete(m, k)
	}
}

// Snapshot takes a polled source's full list of the jobs running now
// (key → runner): each runs, on its runner, and each job of the source
// (keys with prefix) tracked as running that the list no longer shows is
// done, at now. Only a complete list may be given. It reports whether
// anything changed.
func (t *Tracker) Snapshot(prefix string, running map[string]string, now time.Time) bool {
	t.init()
	changed := false
	for k, runner := range running {
		changed = t.Advance(k, Running, "", runner, now) || changed
	}
	for k, j := range t.Jobs {
		if _, ok := running[k]; !ok && j.State == Running && strings.HasPrefix(k, prefix) {
			changed = t.Advance(k, Done, "", "", now) || changed
		}
	}
	return changed
}
