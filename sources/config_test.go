package sources

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

func TestConfigValidate(t *testing.T) {
	var gh func(f func(*GitHub)) Config
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	app := func(f func(*GitHub)) Config {
		return gh(func(g *GitHub) {
			g.Token, g.AppID, g.InstallationID, g.PrivateKey = "", 1, 2, pemKey
			f(g)
		})
	}
	gh = func(f func(*GitHub)) Config {
		g := GitHub{WebhookSecret: "s3cret", Token: "ghp_x", Repos: []string{"octo/app"}}
		f(&g)
		return Config{GitHub: &g}
	}
	bk := func(f func(*Buildkite)) Config {
		b := Buildkite{WebhookToken: "tok", Queue: "default"}
		f(&b)
		return Config{Buildkite: &b}
	}
	tc := func(f func(*Taskcluster)) Config {
		c := Taskcluster{RootURL: "https://tc.example.com", TaskQueueID: "proj-ci/linux", ClientID: "project/ci/spotter", AccessToken: "tc-secret"}
		f(&c)
		return Config{Taskcluster: &c}
	}
	repos := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "octo/r" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		}
		return out
	}
	tests := map[string]struct {
		c     Config
		field string // "" for valid
	}{
		"empty":                      {Config{}, ""},
		"github":                     {gh(func(*GitHub) {}), ""},
		"github webhook only":        {gh(func(g *GitHub) { g.Token, g.Repos = "", nil }), ""},
		"github org":                 {gh(func(g *GitHub) { g.Repos, g.Org = nil, "octo-org" }), ""},
		"github no secret":           {gh(func(g *GitHub) { g.WebhookSecret = "" }), "sources.github.webhookSecret"},
		"github secret at limit":     {gh(func(g *GitHub) { g.WebhookSecret = strings.Repeat("s", MaxSecretLen) }), ""},
		"github secret past limit":   {gh(func(g *GitHub) { g.WebhookSecret = strings.Repeat("s", MaxSecretLen+1) }), "sources.github.webhookSecret"},
		"github secret spaces":       {gh(func(g *GitHub) { g.WebhookSecret = " s" }), "sources.github.webhookSecret"},
		"github repos at limit":      {gh(func(g *GitHub) { g.Repos = repos(MaxRepos) }), ""},
		"github repos past limit":    {gh(func(g *GitHub) { g.Repos = repos(MaxRepos + 1) }), "sources.github.repos"},
		"github repo not owner/name": {gh(func(g *GitHub) { g.Repos = []string{"app"} }), "sources.github.repos"},
		"github repo twice":          {gh(func(g *GitHub) { g.Repos = []string{"octo/app", "Octo/App"} }), "sources.github.repos"},
		"github repos and org":       {gh(func(g *GitHub) { g.Org = "octo" }), "sources.github.org"},
		"github bad org":             {gh(func(g *GitHub) { g.Repos, g.Org = nil, "-octo" }), "sources.github.org"},
		"github token no repos":      {gh(func(g *GitHub) { g.Repos = nil }), "sources.github.repos"},
		"github repos no token":      {gh(func(g *GitHub) { g.Token = "" }), "sources.github.token"},
		"github api ftp":             {gh(func(g *GitHub) { g.APIURL = "ftp://x" }), "sources.github.apiUrl"},
		"github jit":                 {gh(func(g *GitHub) { g.RunnerRegistration = RegisterJIT }), ""},
		"github registration token":  {gh(func(g *GitHub) { g.RunnerRegistration = RegisterToken }), ""},
		"github pool secrets":        {gh(func(g *GitHub) { g.RunnerRegistration = RegisterSecrets }), ""},
		"github registration other":  {gh(func(g *GitHub) { g.RunnerRegistration = "ephemeral" }), "sources.github.runnerRegistration"},
		"github jit no token":        {gh(func(g *GitHub) { g.Token, g.Repos, g.RunnerRegistration = "", nil, RegisterJIT }), "sources.github.runnerRegistration"},
		"github secrets no token":    {gh(func(g *GitHub) { g.Token, g.Repos, g.RunnerRegistration = "", nil, RegisterSecrets }), ""},
		"github group":               {gh(func(g *GitHub) { g.RunnerGroupID = 42 }), ""},
		"github group negative":      {gh(func(g *GitHub) { g.RunnerGroupID = -1 }), "sources.github.runnerGroupId"},
		"github work folder":         {gh(func(g *GitHub) { g.WorkFolder = "jobs/_work" }), ""},
		"github work at limit":       {gh(func(g *GitHub) { g.WorkFolder = strings.Repeat("w", MaxWorkFolderLen) }), ""},
		"github work past limit":     {gh(func(g *GitHub) { g.WorkFolder = strings.Repeat("w", MaxWorkFolderLen+1) }), "sources.github.workFolder"},
		"github work absolute":       {gh(func(g *GitHub) { g.WorkFolder = "/tmp/w" }), "sources.github.workFolder"},
		"github work dotdot":         {gh(func(g *GitHub) { g.WorkFolder = "_work/../.." }), "sources.github.workFolder"},
		"github work shell":          {gh(func(g *GitHub) { g.WorkFolder = "w;rm -rf" }), "sources.github.workFolder"},
		"github api query":           {gh(func(g *GitHub) { g.APIURL = "https://ghe.example.com/api/v3?x=1" }), "sources.github.apiUrl"},
		"github api userinfo":        {gh(func(g *GitHub) { g.APIURL = "https://u:p@ghe.example.com" }), "sources.github.apiUrl"},
		"github app":                 {app(func(*GitHub) {}), ""},
		"github app and token":       {app(func(g *GitHub) { g.Token = "ghp_x" }), "sources.github.appId"},
		"github app no installation": {app(func(g *GitHub) { g.InstallationID = 0 }), "sources.github.installationId"},
		"github app no key":          {app(func(g *GitHub) { g.PrivateKey = "" }), "sources.github.privateKey"},
		"github app bad key":         {app(func(g *GitHub) { g.PrivateKey = "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n" }), "sources.github.privateKey"},
		"github app key too long":    {app(func(g *GitHub) { g.PrivateKey += strings.Repeat("\n", MaxPrivateKeyLen) }), "sources.github.privateKey"},
		"github app no id":           {app(func(g *GitHub) { g.AppID = 0 }), "sources.github.appId"},
		"github api ghes":            {gh(func(g *GitHub) { g.APIURL = "https://ghe.example.com/api/v3" }), ""},
		"buildkite":                  {bk(func(*Buildkite) {}), ""},
		"buildkite polling":          {bk(func(b *Buildkite) { b.WebhookToken, b.AgentToken = "", "bkua_x" }), ""},
		"buildkite both modes":       {bk(func(b *Buildkite) { b.WebhookSigningSecret = "x" }), "sources.buildkite.webhookSigningSecret"},
		"buildkite nothing":          {bk(func(b *Buildkite) { b.WebhookToken = "" }), "sources.buildkite"},
		"buildkite no queue":         {bk(func(b *Buildkite) { b.Queue = "" }), "sources.buildkite.queue"},
		"buildkite bad metrics":      {bk(func(b *Buildkite) { b.MetricsURL = "agent.buildkite.com" }), "sources.buildkite.metricsUrl"},
		"taskcluster":                {tc(func(*Taskcluster) {}), ""},
		"taskcluster anonymous":      {tc(func(c *Taskcluster) { c.ClientID, c.AccessToken = "", "" }), ""},
		"taskcluster no root":        {tc(func(c *Taskcluster) { c.RootURL = "" }), "sources.taskcluster.rootUrl"},
		"taskcluster root path":      {tc(func(c *Taskcluster) { c.RootURL = "https://tc.example.com/api" }), "sources.taskcluster.rootUrl"},
		"taskcluster root slash":     {tc(func(c *Taskcluster) { c.RootURL = "https://tc.example.com/" }), "sources.taskcluster.rootUrl"},
		"taskcluster queue":          {tc(func(c *Taskcluster) { c.TaskQueueID = "proj-ci/Linux" }), "sources.taskcluster.taskQueueId"},
		"taskcluster queue at 38":    {tc(func(c *Taskcluster) { c.TaskQueueID = strings.Repeat("p", 38) + "/" + strings.Repeat("w", 38) }), ""},
		"taskcluster queue past 38":  {tc(func(c *Taskcluster) { c.TaskQueueID = strings.Repeat("p", 39) + "/w" }), "sources.taskcluster.taskQueueId"},
		"taskcluster id no token":    {tc(func(c *Taskcluster) { c.AccessToken = "" }), "sources.taskcluster.accessToken"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid {
				t.Fatalf("err %v; want invalid_request", err)
			}
			var ae *apperr.Error
			_ = errorsAs(err, &ae)
			if !strings.HasPrefix(ae.Details, tt.field+":") {
				t.Fatalf("details %q; want them to start with %s:", ae.Details, tt.field)
			}
		})
	}
}

// TestMergeKeepsSecrets: a section's fields merge one by one; null
// removes a field or a whole section; unknown names are refused.
func TestMergeKeepsSecrets(t *testing.T) {
	cur := Config{GitHub: &GitHub{WebhookSecret: "s", Token: "t", Repos: []string{"o/a"}}, Buildkite: &Buildkite{WebhookToken: "w", Queue: "q"}}
	tests := map[string]struct {
		patch string
		check func(Config) bool
		err   string
	}{
		"repos only": {`{"github": {"repos": ["o/b"]}}`, func(c Config) bool {
			return c.GitHub.WebhookSecret == "s" && c.GitHub.Token == "t" && c.GitHub.Repos[0] == "o/b"
		}, ""},
		"drop buildkite":      {`{"buildkite": null}`, func(c Config) bool { return c.Buildkite == nil && c.GitHub != nil }, ""},
		"drop a field":        {`{"github": {"token": null, "repos": null}}`, func(c Config) bool { return c.GitHub.Token == "" && c.GitHub.Repos == nil }, ""},
		"new taskcluster":     {`{"taskcluster": {"rootUrl": "https://tc.example.com", "taskQueueId": "p/w"}}`, func(c Config) bool { return c.Taskcluster.TaskQueueID == "p/w" }, ""},
		"unknown source":      {`{"gitlab": {}}`, nil, "unknown source"},
		"unknown field":       {`{"github": {"secret": "x"}}`, nil, "sources.github"},
		"section not object":  {`{"github": "x"}`, nil, "sources.github"},
		"wrong type in field": {`{"github": {"repos": "o/a"}}`, nil, "sources.github"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var patch map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.patch), &patch); err != nil {
				t.Fatal(err)
			}
			c := cur
			g, b := *cur.GitHub, *cur.Buildkite
			c.GitHub, c.Buildkite = &g, &b
			got, err := merge(c, patch)
			if tt.err != "" {
				if apperr.Code(err) != apperr.Invalid || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v; want invalid with %q", err, tt.err)
				}
				return
			}
			if err != nil || !tt.check(got) {
				t.Fatalf("merge = %+v, %v", got, err)
			}
			if cur.GitHub.Token != "t" {
				t.Fatal("merge changed the config it was given")
			}
		})
	}
}

// TestRegistration: JIT is the default where spotter can mint (a token or
// an App), the pool's stored secrets where it cannot; a setting wins.
func TestRegistration(t *testing.T) {
	tests := map[string]struct {
		g    GitHub
		want string
	}{
		"token":             {GitHub{Token: "ghp_x"}, RegisterJIT},
		"app":               {GitHub{AppID: 1}, RegisterJIT},
		"webhook only":      {GitHub{WebhookSecret: "s"}, RegisterSecrets},
		"token, set":        {GitHub{Token: "ghp_x", RunnerRegistration: RegisterToken}, RegisterToken},
		"token, secrets":    {GitHub{Token: "ghp_x", RunnerRegistration: RegisterSecrets}, RegisterSecrets},
		"webhook only, set": {GitHub{RunnerRegistration: RegisterSecrets}, RegisterSecrets},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.g.Registration(); got != tt.want {
				t.Errorf("Registration() = %q; want %q", got, tt.want)
			}
		})
	}
}
