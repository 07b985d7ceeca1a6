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
	fs := newFlagSet("keys rotate", "keys rotate [flags]",
		"Makes a new key for signing capability tokens. New tokens are signed with it;\n"+
			"tokens signed with older keys stay valid until they expire or are revoked.", stderr)
	var conn cliConn
	conn.register(fs, getenv, true)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys rotate: unexpected argument %q", pos[0])
	}
	c, err := conn.client(getenv, stderr, true, "")
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
