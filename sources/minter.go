package sources

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources/github"
)

// mintMemory is how long the Minter remembers where it registered an
// instance's runner: long enough for a retried hand-off to go back to the
// same repository, and for a JIT runner to take its job (after which the
// job is no longer queued and stops drawing runners to its repository).
const mintMemory = 10 * time.Minute

// Minter makes, at a github-runner pool instance's bootstrap hand-off, what
// its runner registers with (bootstrap.Minter): a just-in-time runner
// config named after the instance, with the pool's labels, or a
// registration token good for an hour — minted with the pool's GitHub
// token or App at that moment, returned once, and stored nowhere. Pools
// without a GitHub source with API credentials, or with
// runnerRegistration "pool-secrets", get nothing from it: their stored
// runner-url and runner-token secrets serve.
type Minter struct {
	s *Service

	mu     sync.Mutex
	recent map[string][]minted // pool name → recent mints
}

type minted struct {
	scope    github.Scope
	instance string
	slots    int // the instance's job slots: the queued jobs it can take
	at       time.Time
}

// NewMinter returns a Minter over s's pools and sources. Make one per
// replica: its memory of recent mints spreads runners over the repos.
func (s *Service) NewMinter() *Minter {
	return &Minter{s: s, recent: map[string][]minted{}}
}

// Mint returns the secrets the github-runner template reads: one
// encoded_jit_config per job slot of the instance ("jit-config" for the
// runner named after it, "jit-config-2" for <id>-2, and so on), or
// "runner-token" and "runner-url". Its errors are the hand-off's 5xx or
// 429, which use nothing up: the instance retries (see
// bootstrap.Service.Redeem).
func (m *Minter) Mint(ctx context.Context, p pool.Pool, instanceID string, agents int) (map[string]string, error) {
	if p.Bootstrap != pool.BootstrapGitHubRunner {
		return nil, nil
	}
	rec, err := m.s.pools.Get(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	cfg, err := m.s.Config(ctx, rec)
	if err != nil {
		return nil, err
	}
	g := cfg.GitHub
	if g == nil || g.Registration() == RegisterSecrets {
		return nil, nil
	}
	key := p.Name + "/github"
	if until := m.s.limits.untilOf(key); m.s.now().Before(until) {
		return nil, m.rateLimited(p.Name, until)
	}
	c, err := m.s.githubClient(ctx, g)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "GitHub did not give pool %s's App an installation token; the instance retries", p.Name)
	}
	c.Floor = 0 // the floor keeps calls for the hand-off; this is it
	scope := m.scope(ctx, rec, g, instanceID)
	var out map[string]string
	var runnerIDs []int64
	switch g.Registration() {
	case RegisterJIT:
		if len(p.Labels) == 0 {
			return nil, apperr.New(apperr.Unavailable, "pool %s has no labels and GitHub registers a JIT runner with 1 to 100: set the pool's labels (the runs-on labels it serves)", p.Name)
		}
		out = map[string]string{}
		for k := 1; k <= max(1, agents) && err == nil; k++ {
			name, key := instanceID, "jit-config"
			if k > 1 {
				name, key = instanceID+"-"+strconv.Itoa(k), "jit-config-"+strconv.Itoa(k)
			}
			var jc github.JITConfig
			jc, err = m.jit(ctx, c, scope, github.JITRequest{Name: name, RunnerGroupID: runnerGroup(g), Labels: p.Labels, WorkFolder: g.WorkFolder})
			out[key], runnerIDs = jc.Encoded, append(runnerIDs, jc.RunnerID)
		}
	case RegisterToken:
		var tok string
		tok, _, err = c.RegistrationToken(ctx, scope)
		out = map[string]string{"runner-token": tok, "runner-url": github.WebURL(c.Base, scope)}
	}
	if err != nil {
		return nil, m.failed(ctx, key, p.Name, scope, err)
	}
	m.remember(p.Name, minted{scope: scope, instance: instanceID, slots: max(1, agents)})
	m.s.log.InfoContext(ctx, "github runner registration minted", "pool", p.Name, "instance_id", instanceID,
		"scope", string(scope), "registration", g.Registration(), "runner_ids", runnerIDs)
	return out, nil
}

func runnerGroup(g *GitHub) int64 {
	if g.RunnerGroupID > 0 {
		return g.RunnerGroupID
	}
	return DefaultRunnerGroup
}

// jit registers the runner. A 409 means the scope has a runner of this
// instance's name: an earlier hand-off of the same instance minted it
// and then failed (the store did not take the burn, or the reply was
// lost), as only an instance whose credential is still unused for it gets
// here. That runner never started, so it is removed and minted again; one
// running a job is left alone.
func (m *Minter) jit(ctx context.Context, c *github.Client, scope github.Scope, req github.JITRequest) (github.JITConfig, error) {
	jc, err := c.GenerateJITConfig(ctx, scope, req)
	if github.StatusOf(err) != http.StatusConflict {
		return jc, err
	}
	r, found, lerr := c.RunnerByName(ctx, scope, req.Name)
	switch {
	case lerr != nil:
		return jc, lerr
	case !found:
		return jc, err // removed in between: the instance's retry mints afresh
	case r.Busy:
		return jc, apperr.New(apperr.Conflict, "GitHub already has runner %s in %s running a job; this instance cannot register another under its name", req.Name, scope)
	}
	if err := c.RemoveRunner(ctx, scope, r.ID); err != nil && github.StatusOf(err) != http.StatusNotFound {
		return jc, err
	}
	m.s.log.InfoContext(ctx, "github runner of an interrupted hand-off removed", "scope", string(scope), "runner", req.Name, "runner_id", r.ID)
	return c.GenerateJITConfig(ctx, scope, req)
}

// failed turns a GitHub failure into the hand-off's error: 429 with
// GitHub's reset for a rate limit (and the pool's GitHub calls back off
// until then), else 503 with what GitHub said; the cause goes to the log.
func (m *Minter) failed(ctx context.Context, key, poolName string, scope github.Scope, err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	if rl, ok := github.IsRateLimited(err); ok {
		m.s.limits.set(key, rl.Until)
		m.s.log.WarnContext(ctx, "github rate limited the hand-off", "pool", poolName, "until", rl.Until.UTC())
		return m.rateLimited(poolName, rl.Until)
	}
	m.s.log.WarnContext(ctx, "github runner registration failed", "pool", poolName, "scope", string(scope), "err", err)
	var se *github.StatusError
	if errors.As(err, &se) {
		return apperr.Wrap(err, apperr.Unavailable, "GitHub answered HTTP %d (%s) to registering pool %s's runner in %s; %s",
			se.Code, se.Message, poolName, scope, advice(se.Code))
	}
	return apperr.Wrap(err, apperr.Unavailable, "GitHub did not answer the runner registration for pool %s; the instance retries", poolName)
}

func advice(code int) string {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		return "check that sources.github's token or App may administer the runners there (repos: Administration write; org: Self-hosted runners write) and that runnerGroupId exists"
	case code == http.StatusUnprocessableEntity:
		return "check the pool's labels and sources.github.runnerGroupId and workFolder"
	}
	return "the instance retries"
}

func (m *Minter) rateLimited(poolName string, until time.Time) error {
	return &apperr.Error{Code: apperr.RateLimited, RetryAfter: max(until.Sub(m.s.now()), time.Second),
		Details: "GitHub rate-limits pool " + poolName + "'s token or App until " + until.UTC().Format(time.RFC3339) + "; retry after the Retry-After seconds"}
}

// scope is where the instance's runner registers: the org, or one of the
// repos — the one a retried hand-off of this instance used, else the one
// with the most queued jobs not yet given a runner (queued in the pool's
// job record, less the job slots of runners minted there lately), the
// first on a tie. A
// repository runner serves its repository alone; name an org to share.
func (m *Minter) scope(ctx context.Context, rec pools.Record, g *GitHub, instanceID string) github.Scope {
	if g.Org != "" {
		return github.OrgScope(g.Org)
	}
	if len(g.Repos) == 1 {
		return github.RepoScope(g.Repos[0])
	}
	want := make([]int, len(g.Repos))
	if jobs, err := m.s.jobsWhere(ctx, rec, func(sc shardCount) bool { return sc.C["github"][0] > 0 }); err == nil {
		for _, j := range jobs {
			if j.State != Queued {
				continue
			}
			for i, r := range g.Repos {
				if strings.EqualFold(j.Repo, r) {
					want[i]++
				}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(rec.Pool.Name)
	for _, x := range m.recent[rec.Pool.Name] {
		if x.instance == instanceID {
			return x.scope
		}
		for i, r := range g.Repos {
			if x.scope == github.RepoScope(r) {
				want[i] -= x.slots
			}
		}
	}
	best := 0
	for i := range want {
		if want[i] > want[best] {
			best = i
		}
	}
	return github.RepoScope(g.Repos[best])
}

func (m *Minter) remember(poolName string, x minted) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(poolName)
	x.at = m.s.now()
	m.recent[poolName] = append(m.recent[poolName], x)
}

// prune forgets mints older than mintMemory; the caller holds m.mu.
func (m *Minter) prune(poolName string) {
	cut := m.s.now().Add(-mintMemory)
	kept := m.recent[poolName][:0]
	for _, x := range m.recent[poolName] {
		if x.at.After(cut) {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		delete(m.recent, poolName)
		return
	}
	m.recent[poolName] = kept
}

// untilOf is when key's backoff ends (zero: none).
func (b *backoff) untilOf(key string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.until[key]
}
