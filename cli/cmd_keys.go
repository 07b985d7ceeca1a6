package cli

import (
	"context"
	"fmt"
	"io"
)

func runKeys(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "keys", map[string]subcommand{
		"rotate": {"make a new token-signing key", runKeysRotate},
	}, args, getenv, stdin, stdout, stderr)
}

func runKeysRotate(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("keys rotate", "keys rotate [flags]",
		"Makes a new key for signing capability tokens. New tokens are signed with it;\n"+
			"tokens signed with older keys stay valid until they expire or are revoked.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	_, c, err := fs.start(args, noArgs("keys rotate"))
	if err != nil {
		return err
	}
	k, err := c.RotateKeys(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, k)
	}
	fmt.Fprintf(stdout, "new signing key %s: new tokens are signed with it; existing tokens stay valid until they expire or are revoked\n", k.KeyID)
	return nil
}
