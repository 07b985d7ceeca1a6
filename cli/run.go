// Package cli is the spotter command line: serve, sim, token, keys, task,
// totp, completion and version. main calls Run and nothing else, so a test
// runs any command in-process with its own arguments, environment and streams.
package cli

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

// command is one `spotter <name>` subcommand. Each receives the arguments
// after its name and the process environment through getenv only, so tests can
// run any command in-process.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run the HTTPS service", runServe},
		"sim":        {"run the EC2/STS emulator alone", runSim},
		"token":      {"create, list, show, revoke, rotate or unlock capability tokens (admin)", runToken},
		"keys":       {"rotate the token-signing key (admin)", runKeys},
		"pool":       {"create, list, show, update, delete or drain pools that follow a job queue (admin)", runPool},
		"task":       {"launch, terminate, status, price or cancel spot instances", runTask},
		"totp":       {"print the current TOTP code for a secret (the sandbox's MFA demo)", runTOTP},
		"completion": {"print a shell completion script (bash, zsh or fish)", runCompletion},
		"version":    {"print the version and the revision it was built from", runVersion},
	}
}

func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmds := commands()
	var err error
	switch {
	case len(args) < 2:
		err = &usageError{err: errors.New("name a command"), help: usage(cmds)}
	case isHelpArg(args[1]) && len(args) > 2:
		// `spotter help token create` is `spotter token create --help`.
		return Run(ctx, append(append([]string{args[0]}, args[2:]...), "--help"), getenv, stdin, stdout, stderr)
	case isHelpArg(args[1]):
		err = &helpRequest{text: usage(cmds)}
	default:
		cmd, ok := cmds[args[1]]
		if !ok {
			err = &usageError{err: fmt.Errorf("unknown command %q", args[1]), help: usage(cmds)}
			break
		}
		err = cmd.run(ctx, args[2:], getenv, stdin, stdout, stderr)
	}
	var help *helpRequest
	var ue *usageError
	switch {
	case errors.As(err, &help):
		_, werr := io.WriteString(stdout, help.text)
		return werr
	case errors.Is(err, flag.ErrHelp):
		return nil
	case errors.As(err, &ue) && ue.help != "":
		io.WriteString(stderr, ue.help+"\n")
	case errors.As(err, &ue):
		// Under the error, where it is read: main prints err last.
		return fmt.Errorf("%w\n  see 'spotter %s --help'", err, commandPath(args, cmds))
	}
	return err
}

// commandPath names the command args ran, e.g. "token create", for hints.
func commandPath(args []string, cmds map[string]command) string {
	if len(args) < 2 {
		return ""
	}
	path := args[1]
	if _, ok := cmds[path]; ok && len(args) > 2 && !strings.HasPrefix(args[2], "-") {
		switch path {
		case "token", "task", "keys", "pool":
			path += " " + args[2]
		}
	}
	return path
}

// ExitCode is the process status for run's error: 0, 2 for a usage error
// (the command line is wrong), 1 for anything else.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

func usage(cmds map[string]command) string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: spotter <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'spotter <command> --help' for a command's flags.\n")
	return b.String()
}
