package sources

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources/github"
)

// PollTurns is how many polls pass before each shard was read again.
const PollTurns = 8

// pollRound counts this replica's polls of a pool: whose turn it is.
func (s *Service) pollRound(name string) int {
	v, _ := s.rounds.LoadOrStore(name, new(atomic.Int64))
	return int(v.(*atomic.Int64).Add(1))
}

// polledJobs are the jobs the pollers saw, by shard: GitHub's from the
// API, and Taskcluster's claimed tasks (nil: not known in full).
type polledJobs struct {
	gh     [][]github.Job
	claims []map[string]string
}

func byShard(gh []github.Job, claims map[string]string) polledJobs {
	pj := polledJobs{gh: make([][]github.Job, Shards)}
	for _, j := range gh {
		i := shardOf(github.Key(j.ID))
		pj.gh[i] = append(pj.gh[i], j)
	}
	if claims != nil {
		pj.claims = make([]map[string]string, Shards)
		for i := range pj.claims {
			pj.claims[i] = map[string]string{}
		}
		for k, w := range claims {
			pj.claims[shardOf(k)][k] = w
		}
	}
	return pj
}

// reads says whether a poll reads shard i: when the pollers move one of
// its jobs, when it holds running Taskcluster tasks the claims may have
// ended, and in its turn: each poll prunes and counts again
// Shards/PollTurns of them, so a count a crash left short is repaired
// within PollTurns polls.
func (pj polledJobs) reads(head trackerRecord, i, round int) bool {
	tc := pj.claims != nil && (len(pj.claims[i]) > 0 || head.Shards[i].C["taskcluster"][1] > 0)
	return len(pj.gh[i]) > 0 || tc || i%PollTurns == round%PollTurns
}

// apply moves shard i's polled jobs in t.
func (pj polledJobs) apply(t *Tracker, i int, now time.Time) bool {
	changed := false
	if pj.claims != nil {
		changed = t.Snapshot("taskcluster:", pj.claims[i], now)
	}
	for _, j := range pj.gh[i] {
		if st, ok := map[string]int{"queued": Queued, "in_progress": Running, "completed": Done}[j.Status]; ok {
			changed = t.Advance(github.Key(j.ID), st, j.Repo, j.RunnerName, now) || changed
		}
	}
	return changed
}

// pollShards moves the jobs the pollers saw in their shards (pruning each
// as it goes), then writes the head: the pollers' counts, and the shards
// read counted again, which repairs a count a crash left behind.
func (s *Service) pollShards(ctx context.Context, rec pools.Record, cfg Config, polled map[string]Polled, pj polledJobs, now time.Time) error {
	head, _, err := s.getHead(ctx, rec)
	if err != nil {
		return err
	}
	round := s.pollRound(rec.Pool.Name)
	ts, versions, visited := make([]Tracker, Shards), make([]int, Shards), make([]bool, Shards)
	for i := range Shards {
		if !pj.reads(head, i, round) && !s.takeUncounted(rec.Pool.Name, i) {
			continue
		}
		t, v, err := s.updateShard(ctx, rec, i, func(t *Tracker) (bool, error) { return pj.apply(t, i, now), nil })
		if err != nil {
			return err
		}
		ts[i], versions[i], visited[i] = t, v, true
	}
	return s.updateHead(ctx, rec, func(tr *trackerRecord) bool {
		setPolled(tr, cfg, polled)
		for i := range ts {
			if visited[i] {
				tr.setCount(i, versions[i], ts[i])
			}
		}
		return true
	})
}

// setPolled puts the pollers' new counts in the head and drops those of
// pollers no longer configured.
func setPolled(tr *trackerRecord, cfg Config, polled map[string]Polled) {
	if tr.Polled == nil {
		tr.Polled = map[string]Polled{}
	}
	for k, p := range polled {
		tr.Polled[k] = p
	}
	if cfg.Buildkite == nil || cfg.Buildkite.AgentToken == "" {
		delete(tr.Polled, "buildkite")
	}
	if cfg.Taskcluster == nil {
		delete(tr.Polled, "taskcluster")
	}
}

// uncounted notes shard i of a pool whose new count this replica failed
// to put in the head, for its next poll to count again.
func (s *Service) uncounted(name string, i int) {
	v, _ := s.missed.LoadOrStore(name, &missedShards{})
	m := v.(*missedShards)
	m.mu.Lock()
	m.shards[i] = true
	m.mu.Unlock()
}

// takeUncounted reports, once, whether shard i's count was missed.
func (s *Service) takeUncounted(name string, i int) bool {
	v, ok := s.missed.Load(name)
	if !ok {
		return false
	}
	m := v.(*missedShards)
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.shards[i]
	m.shards[i] = false
	return was
}

type missedShards struct {
	mu     sync.Mutex
	shards [Shards]bool
}
