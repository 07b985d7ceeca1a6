package cli

// How every command reads its command line: one help layout, help on
// stdout when asked for (exit 0), usage errors on stderr (exit 2).

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// errUsage marks a command line that is wrong: main exits 2.
var errUsage = errors.New("usage error")

// usageError is a wrong command line. help, when set, is the command's
// help text, printed on stderr above the error.
type usageError struct {
	err  error
	help string
}

func (e *usageError) Error() string        { return e.err.Error() }
func (e *usageError) Unwrap() error        { return e.err }
func (e *usageError) Is(target error) bool { return target == errUsage }

// usagef returns a usage error: the arguments make no sense together.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// helpRequest is -h/--help: the help text goes to stdout and the command
// succeeds. It matches flag.ErrHelp.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string        { return "help requested" }
func (h *helpRequest) Is(target error) bool { return target == flag.ErrHelp }

// newFlagSet returns a FlagSet whose help has the one layout every command
// shares: "usage: spotter <synopsis>", a description, then "flags:". Its
// Usage prints to stderr, for the usage errors a command finds itself;
// parseInterspersed sends --help to stdout instead.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: spotter %s\n\n%s\n\nflags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// helpText renders fs's help.
func helpText(fs *flag.FlagSet) string {
	out := fs.Output()
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(out)
	return b.String()
}

// parseInterspersed parses flags that may follow positional arguments
// (`spotter token show ID --json`), which flag.Parse alone stops at.
// Everything after "--" is positional. --help returns a *helpRequest; a
// bad flag a *usageError carrying the help.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints the error and the usage itself; quiet it and
	// decide here where each goes.
	out, usage := fs.Output(), fs.Usage
	restore := func() { fs.SetOutput(out); fs.Usage = usage }
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	defer restore()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			restore()
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{text: helpText(fs)}
			}
			return nil, &usageError{err: err, help: helpText(fs)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse consumes a "--" and stops; if the argument before rest
		// was "--", rest is all positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func isHelpArg(s string) bool {
	return s == "-h" || s == "--help" || s == "-help" || s == "help"
}

type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error
}

// groupHelp is the help of a command with subcommands, in the layout of
// newFlagSet's.
func groupHelp(group string, subs map[string]subcommand) string {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "usage: spotter %s <command> [flags]\n\ncommands:\n", group)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, subs[n].summary)
	}
	fmt.Fprintf(&b, "\nRun 'spotter %s <command> --help' for its flags.\n", group)
	return b.String()
}

// runSubcommand dispatches `spotter <group> <sub> …`.
func runSubcommand(ctx context.Context, group string, subs map[string]subcommand, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		return &usageError{err: fmt.Errorf("%s: name a command", group), help: groupHelp(group, subs)}
	case isHelpArg(args[0]):
		return &helpRequest{text: groupHelp(group, subs)}
	}
	sub, ok := subs[args[0]]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown command %q", group+" "+args[0]), help: groupHelp(group, subs)}
	}
	return cliError(sub.run(ctx, args[1:], getenv, stdin, stdout, stderr))
}
