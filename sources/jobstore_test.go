package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/storetest"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

const hookSecret = "whsec-jobstore"

func ghRig(tb testing.TB, now func() time.Time) rig {
	st, _ := storetest.Embedded(tb, nil)
	return ghRigOn(tb, st, now)
}

func ghRigOn(tb testing.TB, st store, now func() time.Time) rig {
	return newRigOn(tb, st, now, map[string]json.RawMessage{"github": json.RawMessage(`{"webhookSecret": "` + hookSecret + `"}`)})
}

// deliver sends one signed workflow_job delivery for job id to s.
func deliver(s *Service, r rig, id string, job int, action, runner string) (string, error) {
	rn := "null"
	if runner != "" {
		rn = fmt.Sprintf("%q", runner)
	}
	body := []byte(fmt.Sprintf(`{"action": %q, "workflow_job": {"id": %d, "labels": ["linux"], "runner_name": %s},
		"repository": {"full_name": "octo/app"}}`, action, job, rn))
	out, err := s.GitHub(context.Background(), r.rec, Delivery{Event: "workflow_job", ID: id, Signature: sign(hookSecret, body), Body: body, JSON: true})
	return out.Outcome, err
}

func demandNow(t *testing.T, r rig) pool.Demand {
	t.Helper()
	rec, err := r.pools.Get(context.Background(), "ci")
	if err != nil || rec.Demand == nil {
		t.Fatalf("demand: %v, %v", rec.Demand, err)
	}
	return *rec.Demand
}

// TestDeliveryTakenOnceAtTheCaps: with every shard at its caps, a
// delivery is counted, its id survives the trim, and its redelivery is a
// replay that changes nothing.
func TestDeliveryTakenOnceAtTheCaps(t *testing.T) {
	r := ghRig(t, nil)
	fill(t, r, MaxJobs, true, time.Now())
	if out, err := deliver(r.s, r, "d-new", 42, "queued", ""); err != nil || out != Counted {
		t.Fatalf("first: %s, %v", out, err)
	}
	// Its shard was full: its oldest job is forgotten for it.
	if d := demandNow(t, r); d.Pending != JobsPerShard*Shards {
		t.Fatalf("pending %d, want %d", d.Pending, JobsPerShard*Shards)
	}
	_, err := deliver(r.s, r, "d-new", 42, "queued", "")
	if apperr.Code(err) != apperr.SignatureReplay {
		t.Fatalf("redelivery: %v, want signature_replay", err)
	}
	ts, _, err := r.s.readShards(context.Background(), r.rec)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range ts {
		if len(tr.Jobs) > JobsPerShard || len(tr.Deliveries) > DeliveriesPerShard {
			t.Fatalf("shard %d holds %d jobs, %d ids: past its caps", i, len(tr.Jobs), len(tr.Deliveries))
		}
	}
}

// TestTwoReplicasDeliver: two Services on one store (two replicas) take
// distinct deliveries at once and count every job exactly; one delivery
// sent to both at once is counted by one and a replay at the other.
func TestTwoReplicasDeliver(t *testing.T) { eachStore(t, twoReplicasDeliver) }

func twoReplicasDeliver(t *testing.T, st store) {
	r := ghRigOn(t, st, nil)
	other, err := New(Deps{Store: r.st, Pools: r.pools})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := r.s
			if i%2 == 1 {
				s = other
			}
			if _, err := deliver(s, r, fmt.Sprintf("d-%d", i), 100+i, "queued", ""); err != nil {
				errs <- err
			}
		}()
	}
	counted := make(chan string, 2)
	for _, s := range []*Service{r.s, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := deliver(s, r, "d-twice", 999, "queued", "")
			if apperr.Code(err) == apperr.SignatureReplay {
				out = "replay"
			} else if err != nil {
				errs <- err
			}
			counted <- out
		}()
	}
	wg.Wait()
	close(errs)
	close(counted)
	for err := range errs {
		t.Fatal(err)
	}
	got := map[string]int{}
	for o := range counted {
		got[o]++
	}
	if got[Counted] != 1 || got["replay"] != 1 {
		t.Fatalf("one delivery sent twice: %v; want one counted, one replay", got)
	}
	if d := demandNow(t, r); d.Pending != n+1 {
		t.Fatalf("pending %d, want %d", d.Pending, n+1)
	}
}

// TestPollRepairsCounts: a replica that stopped between a job's shard and
// the head's counts leaves the demand short; within PollTurns polls the
// shard's turn comes and it is counted again.
func TestPollRepairsCounts(t *testing.T) {
	r := ghRig(t, nil)
	ctx := context.Background()
	if _, err := deliver(r.s, r, "d-1", 1, "queued", ""); err != nil {
		t.Fatal(err)
	}
	// The crash: job 2 reaches its shard, not the head.
	if _, _, err := r.s.updateShard(ctx, r.rec, shardOf("github:2"), func(t *Tracker) (bool, error) {
		return t.Advance("github:2", Queued, "octo/app", "", time.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	polls := 0
	for ; polls < PollTurns && demandNow(t, r).Pending != 2; polls++ {
		if err := r.s.Poll(ctx, r.rec); err != nil {
			t.Fatal(err)
		}
	}
	if d := demandNow(t, r); d.Pending != 2 {
		t.Fatalf("pending %d after %d polls, want 2", d.Pending, polls)
	}
}

// TestOldLayoutMigrates: a pool record of the old layout (every job and
// delivery id in pooljobs/<name>) is moved into the shards on first use:
// its jobs keep counting and naming their instances, its ids are still
// refused as replays, and the head becomes the sharded one.
func TestOldLayoutMigrates(t *testing.T) { eachStore(t, oldLayoutMigrates) }

func oldLayoutMigrates(t *testing.T, st store) {
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	r := ghRigOn(t, st, func() time.Time { return now })
	ctx := context.Background()
	const inst = "i-0123456789abcdef0"
	old := map[string]any{
		"incarnation": r.rec.Incarnation,
		"tracker": map[string]any{
			"jobs": map[string]any{
				"github:1": map[string]any{"s": Queued, "r": "octo/app", "t": now.Add(-time.Hour)},
				"github:2": map[string]any{"s": Queued, "r": "octo/app", "t": now.Add(-time.Hour)},
				"github:3": map[string]any{"s": Running, "r": "octo/app", "n": inst + "-1", "t": now.Add(-time.Hour)},
				"github:4": map[string]any{"s": Done, "r": "octo/app", "t": now.Add(-time.Hour)},
			},
			"deliveries": map[string]any{"github:old-1": now.Add(-time.Hour), "github:old-2": now.Add(-2 * time.Hour), "github:old-3": now.Add(-3 * time.Hour)},
		},
	}
	b, _ := json.Marshal(old)
	if _, err := r.st.Put(ctx, TrackerPrefix+"ci", secrets.Record{Public: b}, secrets.AnyVersion); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old-1", "old-2", "old-3"} {
		if _, err := deliver(r.s, r, id, 1, "in_progress", inst+"-2"); apperr.Code(err) != apperr.SignatureReplay {
			t.Fatalf("old delivery %s: %v, want signature_replay", id, err)
		}
	}
	if out, err := deliver(r.s, r, "new-1", 5, "queued", ""); err != nil || out != Counted {
		t.Fatalf("new delivery: %s, %v", out, err)
	}
	if d := demandNow(t, r); d.Pending != 3 || d.Running != 1 {
		t.Fatalf("demand %+v; want the old 2 pending and 1 running, and the new job", d)
	}
	a, err := r.s.Activity(ctx, "ci")
	if err != nil || a[inst].Running != 1 {
		t.Fatalf("activity %v, %v; want the old running job on %s", a, err, inst)
	}
	tr, _, err := r.s.getHead(ctx, r.rec)
	if err != nil || tr.Layout != layoutSharded || tr.Tracker != nil || !tr.LegacyUntil.Equal(now.Add(-time.Hour).Add(DeliveryRetention)) {
		t.Fatalf("head: layout %d, old tracker %v, legacy until %v, %v", tr.Layout, tr.Tracker != nil, tr.LegacyUntil, err)
	}
	// Past the last old id's retention the old ids are no longer looked up.
	now = now.Add(DeliveryRetention)
	r2 := r
	r2.s, _ = New(Deps{Store: r.st, Pools: r.pools, Now: func() time.Time { return now }})
	if out, err := deliver(r2.s, r2, "old-1", 6, "queued", ""); err != nil || out != Counted {
		t.Fatalf("an old id past its retention: %s, %v; want counted", out, err)
	}
}

// TestSweepRemovesShards: once a pool is removed, a poll pass removes its
// sources, its head and every shard of its jobs.
func TestSweepRemovesShards(t *testing.T) { eachStore(t, sweepRemovesShards) }

func sweepRemovesShards(t *testing.T, st store) {
	r := ghRigOn(t, st, nil)
	ctx := context.Background()
	for i := range 20 {
		if _, err := deliver(r.s, r, fmt.Sprintf("d-%d", i), i+1, "queued", ""); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(prefix string) []string {
		t.Helper()
		k, err := st.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if n := len(keys(TrackerPrefix + "ci/")); n == 0 {
		t.Fatal("no shard was written")
	}
	if _, err := r.pools.Delete(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if err := r.pools.Remove(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	r.s.PollAll(ctx)
	if k := append(append(keys(TrackerPrefix), keys(TrackerPrefix+"ci/")...), keys(ConfigPrefix)...); len(k) != 0 {
		t.Fatalf("left after the sweep: %v", k)
	}
}

// failingHead refuses the first armed write of the pool's head.
type failingHead struct {
	store
	armed atomic.Bool
}

func (f *failingHead) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	if key == TrackerPrefix+"ci" && f.armed.CompareAndSwap(true, false) {
		return 0, errors.New("the store went away")
	}
	return f.store.Put(ctx, key, rec, cas)
}

// TestMissedCountNextPoll: a delivery whose count did not reach the head
// is still counted (the job and its id are taken); the replica's next
// poll counts that shard again, though it is not the shard's turn.
func TestMissedCountNextPoll(t *testing.T) {
	base, _ := storetest.Embedded(t, nil)
	fh := &failingHead{store: base}
	r := ghRigOn(t, fh, nil)
	ctx := context.Background()
	job := 1
	for shardOf(fmt.Sprintf("github:%d", job))%PollTurns == 1 { // the first poll's turn
		job++
	}
	fh.armed.Store(true)
	if out, err := deliver(r.s, r, "d-1", job, "queued", ""); err != nil || out != Counted {
		t.Fatalf("delivery: %s, %v", out, err)
	}
	if fh.armed.Load() {
		t.Fatal("the head was not written")
	}
	if d := demandNow(t, r); d.Pending != 0 {
		t.Fatalf("pending %d before the poll; the count was to be missed", d.Pending)
	}
	if err := r.s.Poll(ctx, r.rec); err != nil {
		t.Fatal(err)
	}
	if d := demandNow(t, r); d.Pending != 1 {
		t.Fatalf("pending %d after the poll, want 1", d.Pending)
	}
}
