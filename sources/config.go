// Package sources drives pools from CI systems: a pool's "sources"
// setting (GitHub Actions, Buildkite, Taskcluster), kept in the store with
// its secrets sealed; the webhook deliveries each provider signs, checked
// and counted per job; and the pollers that read queue counts from the
// providers' APIs. Every source ends in the pool's demand, written through
// the pools registry. It knows no HTTP server: handlers adapt requests to
// it, and sources/github, sources/buildkite and sources/taskcluster hold
// each provider's wire format and API client.
package sources

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/sources/github"
)

// Config is a pool's sources setting. Secret fields are write-only: the
// store seals them and replies say only whether each is set.
type Config struct {
	GitHub      *GitHub      `json:"github,omitempty"`
	Buildkite   *Buildkite   `json:"buildkite,omitempty"`
	Taskcluster *Taskcluster `json:"taskcluster,omitempty"`
}

// GitHub takes workflow_job webhooks and, with token and repos or org,
// reconciles them against the REST API.
type GitHub struct {
	WebhookSecret string   `json:"webhookSecret,omitempty"` // secret
	APIURL        string   `json:"apiUrl,omitempty"`
	Token         string   `json:"token,omitempty"` // secret
	Repos         []string `json:"repos,omitempty"`
	Org           string   `json:"org,omitempty"`
	// A GitHub App instead of Token: its id, the installation on the
	// repos or org, and its private key (PEM).
	AppID          int64  `json:"appId,omitempty"`
	InstallationID int64  `json:"installationId,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"` // secret
	// How a github-runner pool's instances register, minted at each
	// hand-off with the token or App (minter.go): RegisterJIT (the
	// default with API credentials), RegisterToken, or RegisterSecrets.
	RunnerRegistration string `json:"runnerRegistration,omitempty"`
	// RunnerGroupID is the JIT runner's group (GitHub requires one; 0 is
	// DefaultRunnerGroup) and WorkFolder its work directory, relative to
	// the runner's (GitHub's default _work).
	RunnerGroupID int64  `json:"runnerGroupId,omitempty"`
	WorkFolder    string `json:"workFolder,omitempty"`
}

// App reports whether g reads the API as a GitHub App.
func (g *GitHub) App() bool { return g.AppID != 0 }

// credentialed reports whether g can call the API.
func (g *GitHub) credentialed() bool { return g.Token != "" || g.App() }

// Buildkite takes job webhooks (token or signature mode) and/or polls the
// agent metrics API for Queue.
type Buildkite struct {
	WebhookToken         string `json:"webhookToken,omitempty"`         // secret
	WebhookSigningSecret string `json:"webhookSigningSecret,omitempty"` // secret
	AgentToken           string `json:"agentToken,omitempty"`           // secret
	Queue                string `json:"queue,omitempty"`
	MetricsURL           string `json:"metricsUrl,omitempty"`
}

// Taskcluster polls the queue's counts for TaskQueueID.
type Taskcluster struct {
	RootURL     string `json:"rootUrl,omitempty"`
	TaskQueueID string `json:"taskQueueId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
	AccessToken string `json:"accessToken,omitempty"` // secret
}

// Limits, each tested at and past its edge.
const (
	MaxSecretLen = 1024
	// MaxPrivateKeyLen fits a 4096-bit RSA key in PEM (about 3.3 KB).
	MaxPrivateKeyLen = 8192
	MaxRepos         = 100
	MaxURLLen        = 512
	MaxWorkFolderLen = 128
)

// The runner registrations a GitHub source offers the github-runner
// template, and the runner group a JIT runner joins unless told: GitHub's
// "Default" group, id 1 (the terraform-aws-github-runner module's choice
// for repository runners; the API itself has no default).
const (
	RegisterJIT        = "jit"
	RegisterToken      = "registration-token"
	RegisterSecrets    = "pool-secrets"
	DefaultRunnerGroup = 1
)

// DefaultGitHubAPI and DefaultBuildkiteMetrics are the providers' public
// endpoints, used when the setting names none.
const (
	DefaultGitHubAPI        = "https://api.github.com"
	DefaultBuildkiteMetrics = "https://agent.buildkite.com/v3"
)

var (
	orgRe   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)
	queueRe = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,100}$`)
	// tcQueueRe is Taskcluster's taskQueueId pattern (queue constants.yml).
	tcQueueRe  = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$`)
	clientIDRe = regexp.MustCompile(`^[A-Za-z0-9!@/:.+|_-]{1,256}$`)
	// workFolderRe: relative (no leading /), no spaces or shell syntax.
	workFolderRe = regexp.MustCompile(`^[A-Za-z0-9._-][A-Za-z0-9._/-]*$`)
)

func invalid(field, format string, args ...any) error {
	return apperr.New(apperr.Invalid, "sources."+field+": "+format, args...)
}

// Validate reports the first field out of bounds as an apperr.Invalid
// whose details start with the field's path ("sources.github.repos").
func (c Config) Validate() error {
	if c.GitHub != nil {
		if err := c.GitHub.validate(); err != nil {
			return err
		}
	}
	if c.Buildkite != nil {
		if err := c.Buildkite.validate(); err != nil {
			return err
		}
	}
	if c.Taskcluster != nil {
		return c.Taskcluster.validate()
	}
	return nil
}

// Empty reports a setting with no source.
func (c Config) Empty() bool { return c.GitHub == nil && c.Buildkite == nil && c.Taskcluster == nil }

func secret(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return invalid(field, "is required")
	case len(v) > MaxSecretLen:
		return invalid(field, "is %d bytes; at most %d", len(v), MaxSecretLen)
	case strings.TrimSpace(v) != v:
		return invalid(field, "has leading or trailing spaces; paste the value exactly")
	}
	return nil
}

// baseURL checks an API base: absolute http(s), no query or fragment.
// Plain http is allowed for a local proxy or test server; the README says
// to use https.
func baseURL(field, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	switch {
	case len(v) > MaxURLLen:
		return invalid(field, "is longer than %d characters", MaxURLLen)
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil:
		return invalid(field, "%q is not an http(s) URL like https://api.github.com", v)
	case u.RawQuery != "" || u.Fragment != "":
		return invalid(field, "give the base URL without query or fragment")
	}
	return nil
}

func (g *GitHub) validate() error {
	if err := secret("github.webhookSecret", g.WebhookSecret, true); err != nil {
		return err
	}
	if err := secret("github.token", g.Token, false); err != nil {
		return err
	}
	if err := baseURL("github.apiUrl", g.APIURL); err != nil {
		return err
	}
	if err := g.validateApp(); err != nil {
		return err
	}
	switch {
	case len(g.Repos) > MaxRepos:
		return invalid("github.repos", "at most %d repositories; name the org instead", MaxRepos)
	case len(g.Repos) > 0 && g.Org != "":
		return invalid("github.org", "give repos or org, not both")
	case g.Org != "" && !orgRe.MatchString(g.Org):
		return invalid("github.org", "%q is not a GitHub organization login", truncate(g.Org, 64))
	case g.credentialed() && len(g.Repos) == 0 && g.Org == "":
		return invalid("github.repos", "the token or App is for reconciling against the API: name repos [\"owner/name\"] or an org")
	case !g.credentialed() && (len(g.Repos) > 0 || g.Org != ""):
		return invalid("github.token", "reconciling repos or an org needs a token that can read Actions, or a GitHub App (appId, installationId, privateKey)")
	}
	for i, r := range g.Repos {
		if !github.RepoRe.MatchString(r) {
			return invalid("github.repos", "[%d] %q is not owner/name", i, truncate(r, 64))
		}
		for _, o := range g.Repos[:i] {
			if strings.EqualFold(o, r) {
				return invalid("github.repos", "%q is named twice", r)
			}
		}
	}
	return g.validateRunners()
}

// Registration is how the hand-off registers runners: the setting, or
// RegisterJIT with API credentials and RegisterSecrets without.
func (g *GitHub) Registration() string {
	switch {
	case g.RunnerRegistration != "":
		return g.RunnerRegistration
	case g.credentialed():
		return RegisterJIT
	}
	return RegisterSecrets
}

// validateRunners checks the runner registration settings.
func (g *GitHub) validateRunners() error {
	switch {
	case g.RunnerRegistration != "" && g.RunnerRegistration != RegisterJIT && g.RunnerRegistration != RegisterToken && g.RunnerRegistration != RegisterSecrets:
		return invalid("github.runnerRegistration", "%q: use %q (the default), %q or %q", truncate(g.RunnerRegistration, 32), RegisterJIT, RegisterToken, RegisterSecrets)
	case !g.credentialed() && (g.RunnerRegistration == RegisterJIT || g.RunnerRegistration == RegisterToken):
		return invalid("github.runnerRegistration", "%q is minted with the GitHub API: give a token or a GitHub App", g.RunnerRegistration)
	case g.RunnerGroupID < 0:
		return invalid("github.runnerGroupId", "is a runner group's id (GET /orgs/{org}/actions/runner-groups); leave it out for the Default group, %d", DefaultRunnerGroup)
	case len(g.WorkFolder) > MaxWorkFolderLen || (g.WorkFolder != "" && (!workFolderRe.MatchString(g.WorkFolder) || strings.Contains(g.WorkFolder, ".."))):
		return invalid("github.workFolder", "a directory relative to the runner's, at most %d letters, digits and . _ - / (GitHub's default: _work)", MaxWorkFolderLen)
	}
	return nil
}

func (g *GitHub) validateApp() error {
	// A PEM key ends in a newline and is longer than other secrets, so
	// secret()'s checks do not apply to it.
	switch {
	case !g.App() && g.InstallationID == 0 && g.PrivateKey == "":
		return nil
	case g.Token != "":
		return invalid("github.appId", "give a token or a GitHub App, not both")
	case g.AppID <= 0:
		return invalid("github.appId", "the App's id (Settings → Developer settings → GitHub Apps → App ID) is required with installationId and privateKey")
	case g.InstallationID <= 0:
		return invalid("github.installationId", "the id of the App's installation on the repos or org is required")
	case g.PrivateKey == "":
		return invalid("github.privateKey", "the App's private key (PEM) is required")
	case len(g.PrivateKey) > MaxPrivateKeyLen:
		return invalid("github.privateKey", "is %d bytes; at most %d", len(g.PrivateKey), MaxPrivateKeyLen)
	}
	if _, err := github.ParseAppKey(g.PrivateKey); err != nil {
		return invalid("github.privateKey", "is not an RSA private key in PEM, as GitHub generates one")
	}
	return nil
}

func (b *Buildkite) validate() error {
	for _, f := range []struct{ name, v string }{
		{"buildkite.webhookToken", b.WebhookToken}, {"buildkite.webhookSigningSecret", b.WebhookSigningSecret},
		{"buildkite.agentToken", b.AgentToken},
	} {
		if err := secret(f.name, f.v, false); err != nil {
			return err
		}
	}
	if err := baseURL("buildkite.metricsUrl", b.MetricsURL); err != nil {
		return err
	}
	switch {
	case b.WebhookToken != "" && b.WebhookSigningSecret != "":
		return invalid("buildkite.webhookSigningSecret", "give webhookToken or webhookSigningSecret, as the webhook is set up in Buildkite, not both")
	case !queueRe.MatchString(b.Queue):
		return invalid("buildkite.queue", "name the agent queue the pool serves, e.g. \"default\"")
	case b.WebhookToken == "" && b.WebhookSigningSecret == "" && b.AgentToken == "":
		return invalid("buildkite", "give webhookToken or webhookSigningSecret (webhooks), or agentToken (polling the agent metrics API)")
	}
	return nil
}

func (t *Taskcluster) validate() error {
	if err := baseURL("taskcluster.rootUrl", t.RootURL); err != nil {
		return err
	}
	switch {
	case t.RootURL == "":
		return invalid("taskcluster.rootUrl", "is required, e.g. https://tc.example.com")
	case strings.HasSuffix(t.RootURL, "/") || strings.Count(t.RootURL, "/") > 2:
		return invalid("taskcluster.rootUrl", "is the deployment's root URL without a path or trailing /")
	case !tcQueueRe.MatchString(t.TaskQueueID):
		return invalid("taskcluster.taskQueueId", "%q is not <provisionerId>/<workerType>", truncate(t.TaskQueueID, 80))
	case t.ClientID != "" && !clientIDRe.MatchString(t.ClientID):
		return invalid("taskcluster.clientId", "is not a Taskcluster clientId")
	case (t.ClientID == "") != (t.AccessToken == ""):
		return invalid("taskcluster.accessToken", "give clientId and accessToken together (or neither, for an anonymous deployment)")
	}
	return secret("taskcluster.accessToken", t.AccessToken, false)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
