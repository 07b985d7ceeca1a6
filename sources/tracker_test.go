package sources

import (
	"fmt"
	"testing"
	"time"
)

// TestTrackerSequences: jobs only move forward, so duplicates and
// reordering never count a job twice.
func TestTrackerSequences(t *testing.T) {
	type ev struct {
		job   string
		state int
	}
	tests := map[string]struct {
		events           []ev
		pending, running int
	}{
		"queued":                 {[]ev{{"a", Queued}}, 1, 0},
		"queued twice":           {[]ev{{"a", Queued}, {"a", Queued}}, 1, 0},
		"two queued":             {[]ev{{"a", Queued}, {"b", Queued}}, 2, 0},
		"queued then running":    {[]ev{{"a", Queued}, {"a", Running}}, 0, 1},
		"running before queued":  {[]ev{{"a", Running}, {"a", Queued}}, 0, 1},
		"done then late queued":  {[]ev{{"a", Queued}, {"a", Done}, {"a", Queued}}, 0, 0},
		"done without the start": {[]ev{{"a", Queued}, {"a", Done}}, 0, 0},
		"only done":              {[]ev{{"a", Done}}, 0, 0},
		"mixed":                  {[]ev{{"a", Queued}, {"b", Queued}, {"c", Running}, {"b", Running}, {"a", Done}}, 0, 2},
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var tr Tracker
			for _, e := range tt.events {
				tr.Advance(e.job, e.state, "o/r", "", now)
			}
			if p, r := tr.Counts(); p != tt.pending || r != tt.running {
				t.Fatalf("counts %d, %d; want %d, %d", p, r, tt.pending, tt.running)
			}
		})
	}
}

func TestTrackerTakeAndPrune(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var tr Tracker
	if !tr.Take("d1", now) || tr.Take("d1", now.Add(time.Hour)) {
		t.Fatal("a delivery id must be taken once")
	}
	tr.Advance("done", Done, "", "", now)
	tr.Advance("open", Queued, "", "", now)
	tests := map[string]struct {
		at                      time.Duration
		delivery, done, openJob bool
	}{
		"at the done retention":     {DoneRetention, true, true, true},
		"past the done retention":   {DoneRetention + time.Second, true, false, true},
		"at the open age":           {MaxOpenAge, true, false, true},
		"past the open age":         {MaxOpenAge + time.Second, true, false, false},
		"at the delivery retention": {DeliveryRetention, true, false, false},
		"past delivery retention":   {DeliveryRetention + time.Second, false, false, false},
	}
	for _, name := range []string{"at the done retention", "past the done retention", "at the open age", "past the open age",
		"at the delivery retention", "past delivery retention"} {
		tt := tests[name]
		t.Run(name, func(t *testing.T) {
			tr.Prune(now.Add(tt.at), MaxJobs, MaxDeliveries)
			_, d := tr.Deliveries["d1"]
			_, dj := tr.Jobs["done"]
			_, oj := tr.Jobs["open"]
			if d != tt.delivery || dj != tt.done || oj != tt.openJob {
				t.Fatalf("kept delivery %v done %v open %v; want %v %v %v", d, dj, oj, tt.delivery, tt.done, tt.openJob)
			}
		})
	}
}

// TestTrackerCaps: a shard at its caps keeps everything; one past them
// forgets its oldest job and delivery id.
func TestTrackerCaps(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{JobsPerShard, JobsPerShard + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var tr Tracker
			for i := range n {
				at := now.Add(time.Duration(i) * time.Second)
				tr.Advance(fmt.Sprintf("j%d", i), Queued, "", "", at)
				tr.Take(fmt.Sprintf("d%d", i), at)
			}
			if pruned := tr.Prune(now.Add(time.Duration(n)*time.Second), JobsPerShard, DeliveriesPerShard); pruned != (n > JobsPerShard) {
				t.Errorf("Prune reported %v", pruned)
			}
			if len(tr.Jobs) != min(n, JobsPerShard) || len(tr.Deliveries) != min(n, DeliveriesPerShard) {
				t.Fatalf("kept %d jobs, %d deliveries", len(tr.Jobs), len(tr.Deliveries))
			}
			_, oldest := tr.Jobs["j0"]
			_, oldestID := tr.Deliveries["d0"]
			if oldest != (n <= JobsPerShard) || oldestID != (n <= DeliveriesPerShard) {
				t.Fatalf("oldest job kept: %v, oldest delivery kept: %v", oldest, oldestID)
			}
		})
	}
	if JobsPerShard*Shards > MaxJobs || DeliveriesPerShard*Shards > MaxDeliveries {
		t.Fatalf("the shards' caps add up past the pool's: %d jobs, %d ids", JobsPerShard*Shards, DeliveriesPerShard*Shards)
	}
}
