package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spotter-dev/spotter/api"
)

// maxSecretInput bounds what set reads; the server refuses over 32 KiB.
const maxSecretInput = 1 << 20

// checkSecretsArgs wants an action and the names it takes.
func checkSecretsArgs(pos []string) error {
	want := map[string]int{"set": 3, "list": 2, "rm": 3}
	if len(pos) == 0 || want[pos[0]] == 0 {
		return usagef("pool secrets: name an action: set, list or rm")
	}
	if len(pos) != want[pos[0]] {
		if pos[0] == "list" {
			return usagef("pool secrets list: want one pool name")
		}
		return usagef("pool secrets %s: want a pool name and a secret name (a value comes from stdin or --file)", pos[0])
	}
	return nil
}

// runPoolSecrets is `pool secrets set|list|rm`: one command whose first
// argument is the action, so its flags and help are one page.
func runPoolSecrets(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("pool secrets", "pool secrets set POOL NAME [--scope S] [--file PATH] | list POOL | rm POOL NAME [--scope S] [flags]",
		"Manages the secrets a pool's instances get once, at the bootstrap hand-off. They are sealed in the store\n"+
			"and never shown again: list shows names, scopes, sizes and times.\n"+
			"set reads the value byte for byte from stdin or --file, never from the command line.\n"+
			"Names the templates read: agent-token, runner-url + runner-token or jit-config, taskcluster-root-url,\n"+
			"taskcluster-client-id, taskcluster-access-token, task-queue-id, ssh-key, git-credentials, env.NAME.", getenv, stderr)
	scope := fs.String("scope", "", "narrow the secret to one pipeline (pipeline/SLUG) or repository (repo/OWNER/NAME)")
	file := fs.String("file", "", "set: read the value from this file instead of stdin")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, c, err := fs.start(args, checkSecretsArgs)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "set":
		var value []byte
		if *file != "" {
			value, err = os.ReadFile(*file)
		} else {
			value, err = io.ReadAll(io.LimitReader(stdin, maxSecretInput))
		}
		if err != nil {
			return fmt.Errorf("pool secrets set: %w", err)
		}
		out, err := c.SetPoolSecret(ctx, pos[1], pos[2], *scope, value)
		clear(value)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "Secret %s of pool %s stored (%d bytes%s); it is not shown again.\n", out.Secret.Name, out.Pool, out.Secret.Bytes, scopeNote(out.Secret.Scope))
	case "list":
		out, err := c.ListPoolSecrets(ctx, pos[1])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, out)
		}
		if len(out.Secrets) == 0 {
			fmt.Fprintf(stderr, "pool %s has no secrets\n", out.Pool)
			return nil
		}
		printPoolSecrets(stdout, out.Secrets)
	case "rm":
		if err := c.RemovePoolSecret(ctx, pos[1], pos[2], *scope); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Secret %s of pool %s removed%s.\n", pos[2], pos[1], scopeNote(*scope))
	}
	return nil
}

func scopeNote(scope string) string {
	if scope == "" {
		return ""
	}
	return ", scope " + scope
}

func printPoolSecrets(w io.Writer, list []api.PoolSecret) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tNAME\tBYTES\tUPDATED")
	for _, s := range list {
		scope := s.Scope
		if scope == "" {
			scope = "(pool)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", scope, s.Name, s.Bytes, s.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	tw.Flush()
}
