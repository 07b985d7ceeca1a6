package sources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
)

// ConfigPrefix and TrackerPrefix are where a pool's setting and its
// webhook sources' job tracker live, beside pools/<name>.
const (
	ConfigPrefix  = "poolsources/"
	TrackerPrefix = "pooljobs/"
)

// stored is the public half of a setting: the config with every secret
// blank, and the pool incarnation it belongs to, so a pool deleted and
// created again under its name starts with no sources.
type stored struct {
	Incarnation string `json:"incarnation"`
	Config      Config `json:"config"`
}

// sealedSecrets is the sealed half.
type sealedSecrets struct {
	GitHubWebhookSecret  string `json:"ghWebhookSecret,omitempty"`
	GitHubToken          string `json:"ghToken,omitempty"`
	GitHubPrivateKey     string `json:"ghPrivateKey,omitempty"`
	BuildkiteToken       string `json:"bkWebhookToken,omitempty"`
	BuildkiteSigning     string `json:"bkWebhookSigningSecret,omitempty"`
	BuildkiteAgentToken  string `json:"bkAgentToken,omitempty"`
	TaskclusterAccessKey string `json:"tcAccessToken,omitempty"`
}

// split separates c's secrets from the rest.
func split(c Config) (Config, sealedSecrets) {
	var s sealedSecrets
	if c.GitHub != nil {
		g := *c.GitHub
		s.GitHubWebhookSecret, s.GitHubToken, s.GitHubPrivateKey = g.WebhookSecret, g.Token, g.PrivateKey
		g.WebhookSecret, g.Token, g.PrivateKey = "", "", ""
		c.GitHub = &g
	}
	if c.Buildkite != nil {
		b := *c.Buildkite
		s.BuildkiteToken, s.BuildkiteSigning, s.BuildkiteAgentToken = b.WebhookToken, b.WebhookSigningSecret, b.AgentToken
		b.WebhookToken, b.WebhookSigningSecret, b.AgentToken = "", "", ""
		c.Buildkite = &b
	}
	if c.Taskcluster != nil {
		t := *c.Taskcluster
		s.TaskclusterAccessKey, t.AccessToken = t.AccessToken, ""
		c.Taskcluster = &t
	}
	return c, s
}

func join(c Config, s sealedSecrets) Config {
	if c.GitHub != nil {
		c.GitHub.WebhookSecret, c.GitHub.Token, c.GitHub.PrivateKey = s.GitHubWebhookSecret, s.GitHubToken, s.GitHubPrivateKey
	}
	if c.Buildkite != nil {
		c.Buildkite.WebhookToken, c.Buildkite.WebhookSigningSecret, c.Buildkite.AgentToken = s.BuildkiteToken, s.BuildkiteSigning, s.BuildkiteAgentToken
	}
	if c.Taskcluster != nil {
		c.Taskcluster.AccessToken = s.TaskclusterAccessKey
	}
	return c
}

func scope(name string) string { return ConfigPrefix + name }

// load returns rec's setting with its secrets and the stored version
// (secrets.CreateOnly when there is none or it is an earlier pool's).
func (s *Service) load(ctx context.Context, rec pools.Record) (Config, int, error) {
	name := rec.Pool.Name
	sr, err := s.store.Get(ctx, ConfigPrefix+name)
	if errors.Is(err, secrets.ErrNotFound) {
		return Config{}, secrets.CreateOnly, nil
	}
	if err != nil {
		return Config{}, 0, fmt.Errorf("load the sources of pool %s: %w", name, err)
	}
	var st stored
	if err := json.Unmarshal(sr.Public, &st); err != nil {
		return Config{}, 0, fmt.Errorf("decode the sources of pool %s: %w", name, err)
	}
	if st.Incarnation != rec.Incarnation {
		return Config{}, sr.Version, nil
	}
	var sec sealedSecrets
	if len(sr.Sealed) > 0 {
		plain, err := s.store.Open(ctx, scope(name), sr.Sealed)
		if err != nil {
			return Config{}, 0, fmt.Errorf("open the sources of pool %s: %w", name, err)
		}
		if err := json.Unmarshal(plain, &sec); err != nil {
			return Config{}, 0, fmt.Errorf("decode the sources of pool %s: %w", name, err)
		}
	}
	return join(st.Config, sec), sr.Version, nil
}

// Config returns the pool's sources with their secrets.
func (s *Service) Config(ctx context.Context, rec pools.Record) (Config, error) {
	c, _, err := s.load(ctx, rec)
	return c, err
}

// Patch merges patch into the pool's stored setting and stores it, with
// check-and-set. patch is a JSON object as PATCH /v1/pools/{name}/sources
// takes it: a section given is merged field by field (so a secret left
// out is kept), null removes the section.
func (s *Service) Patch(ctx context.Context, name string, patch map[string]json.RawMessage) (Config, error) {
	for range 5 {
		rec, err := s.pools.Get(ctx, name)
		if err != nil {
			return Config{}, err
		}
		if rec.DeletedAt != nil {
			return Config{}, apperr.New(apperr.Conflict, "pool %s is being deleted: it takes no changes", name)
		}
		cur, version, err := s.load(ctx, rec)
		if err != nil {
			return Config{}, err
		}
		next, err := merge(cur, patch)
		if err != nil {
			return Config{}, err
		}
		if err := next.Validate(); err != nil {
			return Config{}, err
		}
		if next.GitHub != nil && len(rec.Pool.Labels) == 0 {
			return Config{}, apperr.New(apperr.Invalid, "sources.github: pool %s has no labels, and GitHub jobs are matched by them (every runs-on label must be the pool's); set labels first with PATCH /v1/pools/%s", name, name)
		}
		err = s.put(ctx, rec, next, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		if err != nil {
			return Config{}, err
		}
		s.log.InfoContext(ctx, "pool sources set", "pool", name, "github", next.GitHub != nil,
			"buildkite", next.Buildkite != nil, "taskcluster", next.Taskcluster != nil)
		s.notify(name)
		return next, nil
	}
	return Config{}, apperr.New(apperr.Conflict, "the sources of pool %s are being changed by another request; try again", name)
}

func (s *Service) put(ctx context.Context, rec pools.Record, c Config, version int) error {
	pub, sec := split(c)
	b, err := json.Marshal(stored{Incarnation: rec.Incarnation, Config: pub})
	if err != nil {
		return err
	}
	plain, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	sealed, err := s.store.Seal(ctx, scope(rec.Pool.Name), plain)
	if err != nil {
		return fmt.Errorf("seal the sources of pool %s: %w", rec.Pool.Name, err)
	}
	_, err = s.store.Put(ctx, ConfigPrefix+rec.Pool.Name, secrets.Record{Public: b, Sealed: sealed}, version)
	return err
}

// sectionOf maps a section's JSON name, any case, to its field.
func sectionOf(c *Config, key string) (any, bool) {
	switch strings.ToLower(key) {
	case "github":
		return &c.GitHub, true
	case "buildkite":
		return &c.Buildkite, true
	case "taskcluster":
		return &c.Taskcluster, true
	}
	return nil, false
}

// clearSection sets a section pointer to nil.
func clearSection(dst any) {
	switch p := dst.(type) {
	case **GitHub:
		*p = nil
	case **Buildkite:
		*p = nil
	case **Taskcluster:
		*p = nil
	}
}

// merge applies a two-level merge patch; each merged section is decoded
// strictly (an unknown field is an error naming it).
func merge(cur Config, patch map[string]json.RawMessage) (Config, error) {
	for k, v := range patch {
		dst, ok := sectionOf(&cur, k)
		if !ok {
			return Config{}, apperr.New(apperr.Invalid, "sources: unknown source %q; use github, buildkite or taskcluster", truncate(k, 64))
		}
		if string(v) == "null" {
			clearSection(dst)
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(v, &fields); err != nil {
			return Config{}, apperr.New(apperr.Invalid, "sources.%s: send an object or null", strings.ToLower(k))
		}
		b, err := json.Marshal(dst)
		if err != nil {
			return Config{}, err
		}
		doc := map[string]json.RawMessage{}
		if string(b) != "null" {
			if err := json.Unmarshal(b, &doc); err != nil {
				return Config{}, err
			}
		}
		for f, fv := range fields {
			if string(fv) == "null" {
				delete(doc, f)
				continue
			}
			doc[f] = fv
		}
		merged, err := json.Marshal(doc)
		if err != nil {
			return Config{}, err
		}
		// Decode into a fresh section: into the old one, a field the patch
		// removed would stay, and the caller's config would change.
		clearSection(dst)
		if err := strictDecode(merged, dst); err != nil {
			return Config{}, apperr.New(apperr.Invalid, "sources.%s: %s", strings.ToLower(k), err.Error())
		}
	}
	return cur, nil
}

// View is c as replies show it: secrets only as set or not.
func View(c Config) api.PoolSourcesView {
	var v api.PoolSourcesView
	if g := c.GitHub; g != nil {
		apiURL := g.APIURL
		if apiURL == "" {
			apiURL = DefaultGitHubAPI
		}
		v.GitHub = &api.PoolGitHubView{APIURL: apiURL, Repos: g.Repos, Org: g.Org,
			WebhookSecretSet: g.WebhookSecret != "", TokenSet: g.Token != "",
			AppID: g.AppID, InstallationID: g.InstallationID, PrivateKeySet: g.PrivateKey != "", RunnerRegistration: g.Registration(),
			WorkFolder: g.WorkFolder}
		if v.GitHub.RunnerRegistration == RegisterJIT {
			v.GitHub.RunnerGroupID = runnerGroup(g)
		}
	}
	if b := c.Buildkite; b != nil {
		m := b.MetricsURL
		if m == "" {
			m = DefaultBuildkiteMetrics
		}
		v.Buildkite = &api.PoolBuildkiteView{Queue: b.Queue, MetricsURL: m, WebhookTokenSet: b.WebhookToken != "",
			WebhookSigningSecretSet: b.WebhookSigningSecret != "", AgentTokenSet: b.AgentToken != ""}
	}
	if t := c.Taskcluster; t != nil {
		v.Taskcluster = &api.PoolTaskclusterView{RootURL: t.RootURL, TaskQueueID: t.TaskQueueID, ClientID: t.ClientID,
			AccessTokenSet: t.AccessToken != ""}
	}
	return v
}
