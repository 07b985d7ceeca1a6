package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

func runPoolSources(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool sources",
		"Shows a pool's CI sources (README, \"CI sources\"); secrets only as set or not.", false,
		func(c *client.Client, name string, _ json.RawMessage) (any, func(), error) {
			out, err := c.GetPoolSources(ctx, name)
			return out, func() { printSources(stdout, out) }, err
		})
}

func runPoolSourcesUpdate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool sources-update",
		"Merges JSON from FILE or stdin into a pool's CI sources: {\"github\": {...}, \"buildkite\": {...},\n"+
			"\"taskcluster\": {...}}. A field left out keeps its value (secrets too); null removes it or a source.\n"+
			"Secrets go in the JSON, never on the command line.", true,
		func(c *client.Client, name string, patch json.RawMessage) (any, func(), error) {
			out, err := c.UpdatePoolSources(ctx, name, patch)
			return out, func() { fmt.Fprintln(stdout, "Sources updated."); printSources(stdout, out) }, err
		})
}

func setWord(set bool) string {
	if set {
		return "set"
	}
	return "not set"
}

func printSources(w io.Writer, r api.PoolSourcesReply) {
	s := r.Sources
	if s.GitHub == nil && s.Buildkite == nil && s.Taskcluster == nil {
		fmt.Fprintf(w, "Pool %s has no CI sources.\n", r.Pool)
		return
	}
	if g := s.GitHub; g != nil {
		scope := strings.Join(g.Repos, ", ")
		if g.Org != "" {
			scope = "org " + g.Org
		}
		auth := "token " + setWord(g.TokenSet)
		if g.AppID != 0 {
			auth = fmt.Sprintf("App %d, installation %d, private key %s", g.AppID, g.InstallationID, setWord(g.PrivateKeySet))
		}
		fmt.Fprintf(w, "GitHub:       webhook secret %s; API %s (%s); reconcile: %s\n", setWord(g.WebhookSecretSet), g.APIURL, auth, orNone(scope))
		runners := g.RunnerRegistration
		if g.RunnerGroupID != 0 {
			runners += fmt.Sprintf(", group %d", g.RunnerGroupID)
		}
		if g.WorkFolder != "" {
			runners += ", work folder " + g.WorkFolder
		}
		fmt.Fprintf(w, "              runners registered at the hand-off: %s\n", orNone(runners))
	}
	if b := s.Buildkite; b != nil {
		fmt.Fprintf(w, "Buildkite:    queue %s; webhook token %s, signing secret %s; agent token %s (metrics %s)\n",
			b.Queue, setWord(b.WebhookTokenSet), setWord(b.WebhookSigningSecretSet), setWord(b.AgentTokenSet), b.MetricsURL)
	}
	if t := s.Taskcluster; t != nil {
		fmt.Fprintf(w, "Taskcluster:  %s queue %s; client %s, access token %s\n", t.RootURL, t.TaskQueueID, orNone(t.ClientID), setWord(t.AccessTokenSet))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
