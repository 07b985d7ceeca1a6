package sources

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources/buildkite"
	"github.com/spotter-dev/spotter/sources/github"
	"github.com/spotter-dev/spotter/sources/taskcluster"
)

// DefaultPollInterval is how often Run passes over the pools: well inside
// a pool's default staleDemandAfter (2m), so demand kept by webhooks alone
// stays fresh, and a few GitHub calls a minute per repository.
const DefaultPollInterval = 30 * time.Second

// MaxJobChecks bounds the single-job look-ups one GitHub reconcile makes
// for tracked jobs the listings no longer show.
const MaxJobChecks = 50

// GitHubFloor is the X-RateLimit-Remaining a reconcile stops at.
const GitHubFloor = 100

// backoff keeps, per pool and provider, when a rate-limited API may be
// called again.
type backoff struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func (b *backoff) wait(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return now.Before(b.until[key])
}

func (b *backoff) set(key string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.until == nil {
		b.until = map[string]time.Time{}
	}
	b.until[key] = until
}

// Run polls every pool each interval (DefaultPollInterval when 0) until
// ctx ends. One pool's failure is logged and does not stop the others.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultPollInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.PollAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollAll polls each live pool that has sources.
func (s *Service) PollAll(ctx context.Context) {
	recs, err := s.pools.List(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "ci sources: list pools", "err", err)
		return
	}
	live := map[string]bool{}
	for _, rec := range recs {
		live[rec.Pool.Name] = true
		if ctx.Err() != nil {
			return
		}
		if rec.DeletedAt != nil {
			continue
		}
		if err := s.Poll(ctx, rec); err != nil {
			s.log.WarnContext(ctx, "ci sources: poll", "pool", rec.Pool.Name, "err", err)
		}
	}
	s.sweep(ctx, live)
}

// Poll reads the pool's polled sources (Buildkite metrics with an agent
// token, Taskcluster), reconciles its GitHub jobs against the API (with a
// token), and writes the pool's demand, fresh, even when only webhooks
// feed it. A source that fails keeps its last counts; the error is
// returned after the others are done.
func (s *Service) Poll(ctx context.Context, rec pools.Record) error {
	cfg, err := s.Config(ctx, rec)
	if err != nil || cfg.Empty() {
		return err
	}
	now := s.now().UTC()
	polled, errs := s.pollCounts(ctx, cfg, now)
	var claims map[string]string // Taskcluster's running tasks → their workers
	if _, ok := polled["taskcluster"]; ok {
		claims = s.pollClaims(ctx, cfg.Taskcluster)
	} else if cfg.Taskcluster == nil {
		claims = map[string]string{} // no source: none of its tasks runs
	}
	var open, checked []github.Job
	if g := cfg.GitHub; g != nil && g.credentialed() {
		open, checked, err = s.reconcileGitHub(ctx, rec, g)
		if err != nil {
			errs = append(errs, err)
		}
	}
	defer s.lock(rec.Pool.Name)()
	if _, err := s.ensureLayout(ctx, rec); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := s.pollShards(ctx, rec, cfg, polled, byShard(append(open, checked...), claims), now); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if _, err := s.report(ctx, rec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pollCounts reads the counting pollers: Buildkite's metrics (with an
// agent token) and Taskcluster's queue. A failed one is left out.
func (s *Service) pollCounts(ctx context.Context, cfg Config, now time.Time) (map[string]Polled, []error) {
	var errs []error
	polled := map[string]Polled{}
	if bk := cfg.Buildkite; bk != nil && bk.AgentToken != "" {
		base := bk.MetricsURL
		if base == "" {
			base = DefaultBuildkiteMetrics
		}
		c, err := buildkite.QueueCounts(ctx, s.http, base, bk.AgentToken, bk.Queue)
		if err != nil {
			errs = append(errs, err)
		} else {
			polled["buildkite"] = Polled{Pending: c.Scheduled, Running: c.Running, Idle: c.Idle, At: now}
		}
	}
	if tc := cfg.Taskcluster; tc != nil {
		cl := taskcluster.Client{HTTP: s.http, RootURL: tc.RootURL, ClientID: tc.ClientID, AccessToken: tc.AccessToken, Now: s.now}
		c, err := cl.Read(ctx, tc.TaskQueueID)
		if err != nil {
			errs = append(errs, err)
		} else {
			if c.Partial != "" {
				s.log.DebugContext(ctx, "ci sources: taskcluster counts partial", "task_queue", tc.TaskQueueID, "why", c.Partial)
			}
			polled["taskcluster"] = Polled{Pending: c.Pending, Running: c.Claimed, Idle: c.Idle, At: now}
		}
	}
	return polled, errs
}

// pollClaims lists the Taskcluster queue's claimed tasks and the worker
// of each; nil when it cannot tell them all (the client lacks
// queue:claimed-list, the call failed, or the list was cut short), and
// then the tracked tasks stay as they were.
func (s *Service) pollClaims(ctx context.Context, tc *Taskcluster) map[string]string {
	cl := taskcluster.Client{HTTP: s.http, RootURL: tc.RootURL, ClientID: tc.ClientID, AccessToken: tc.AccessToken, Now: s.now}
	list, complete, err := cl.Claimed(ctx, tc.TaskQueueID)
	if err != nil || !complete {
		s.log.DebugContext(ctx, "ci sources: taskcluster claimed tasks not listed in full; instances' tasks not updated",
			"task_queue", tc.TaskQueueID, "err", err)
		return nil
	}
	out := make(map[string]string, len(list))
	for _, c := range list {
		out[taskcluster.Key(c)] = c.WorkerID
	}
	return out
}

// reconcileGitHub lists the open jobs of the pool's repositories whose
// labels are the pool's (repairing lost "queued" and "in_progress"
// deliveries) and looks up tracked open jobs the listing no longer shows
// (repairing a lost "completed"). A rate limit stops the pass and backs
// the pool's GitHub calls off until GitHub's reset.
func (s *Service) reconcileGitHub(ctx context.Context, rec pools.Record, g *GitHub) (open, checked []github.Job, err error) {
	key := rec.Pool.Name + "/github"
	if s.limits.wait(key, s.now()) {
		return nil, nil, nil
	}
	c, err := s.githubClient(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if rl, ok := github.IsRateLimited(err); ok {
			s.limits.set(key, rl.Until)
			s.log.WarnContext(ctx, "ci sources: github rate limited", "pool", rec.Pool.Name, "until", rl.Until.UTC())
		}
	}()
	open, seen, err := openGitHubJobs(ctx, c, g, rec.Pool.Labels)
	if err != nil {
		return nil, nil, err
	}
	// Only shards that hold open GitHub jobs, by the head's counts.
	jobs, err := s.jobsWhere(ctx, rec, func(sc shardCount) bool { c := sc.C["github"]; return c[0]+c[1] > 0 })
	if err != nil {
		return open, nil, err
	}
	checked, err = checkTrackedGitHub(ctx, c, jobs, seen)
	return open, checked, err
}

// githubClient makes the client for one pool's GitHub source, minting an
// installation token first when the source is a GitHub App.
func (s *Service) githubClient(ctx context.Context, g *GitHub) (*github.Client, error) {
	base := g.APIURL
	if base == "" {
		base = DefaultGitHubAPI
	}
	tok := g.Token
	if g.App() {
		key, err := github.ParseAppKey(g.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github app: the stored private key: %w", err)
		}
		if tok, err = s.ghApps.Token(ctx, base, github.App{ID: g.AppID, InstallationID: g.InstallationID, Key: key}); err != nil {
			return nil, err
		}
	}
	return &github.Client{HTTP: s.http, Base: base, Token: tok, Floor: GitHubFloor}, nil
}

// openGitHubJobs lists the open jobs of the source's repositories (the
// organisation's, when one is named) whose labels are within the pool's, and
// the set of their IDs.
func openGitHubJobs(ctx context.Context, c *github.Client, g *GitHub, labels []string) (open []github.Job, seen map[int64]bool, err error) {
	repos := g.Repos
	if g.Org != "" {
		if repos, err = c.OrgRepos(ctx, g.Org); err != nil {
			return nil, nil, err
		}
	}
	seen = map[int64]bool{}
	for _, repo := range repos {
		jobs, err := c.OpenJobs(ctx, repo)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range jobs {
			if github.LabelsWithin(j.Labels, labels) {
				open = append(open, j)
				seen[j.ID] = true
			}
		}
	}
	return open, seen, nil
}

// checkTrackedGitHub looks up, at most MaxJobChecks at a time, tracked open
// GitHub jobs the listing no longer shows. Only a rate limit stops it; a job
// that is gone or unreadable is skipped and ages out of the tracker.
func checkTrackedGitHub(ctx context.Context, c *github.Client, jobs map[string]Job, seen map[int64]bool) (checked []github.Job, err error) {
	for k, j := range jobs {
		if len(checked) >= MaxJobChecks {
			break
		}
		idStr, ok := strings.CutPrefix(k, "github:")
		if !ok || j.State == Done || j.Repo == "" {
			continue
		}
		id, perr := strconv.ParseInt(idStr, 10, 64)
		if perr != nil || seen[id] {
			continue
		}
		got, err := c.GetJob(ctx, j.Repo, id)
		if err != nil {
			if _, ok := github.IsRateLimited(err); ok {
				return checked, err
			}
			continue // gone or unreadable: an older pass's entry ages out
		}
		checked = append(checked, got)
	}
	return checked, nil
}
