package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one `spotter <name>` subcommand. Each receives the arguments
// after its name and the process environment through getenv only, so tests can
// run any command in-process.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the HTTPS service", runServe},
		"sim":     {"run the EC2/STS emulator alone", runSim},
		"token":   {"create, list, show, revoke, rotate or unlock capability tokens (admin)", runToken},
		"keys":    {"rotate the token-signing key (admin)", runKeys},
		"task":    {"launch, terminate, status, price or cancel spot instances", runTask},
		"version": {"print the version", runVersion},
	}
}

// errUsage marks an error already explained on stderr.
var errUsage = errors.New("usage error")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmds := commands()
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		usage(stderr, cmds)
		if len(args) < 2 {
			return errUsage
		}
		return nil
	}
	cmd, ok := cmds[args[1]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown command %q", args[1])
	}
	err := cmd.run(ctx, args[2:], getenv, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: spotter <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'spotter <command> --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, _ []string, _ func(string) string, _ io.Reader, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "spotter %s\n", version)
	return err
}
