package cli

import (
	"encoding/json"
	"flag"
	"io"

	"github.com/spotter-dev/spotter/client"
)

// adminCmd is an admin command's flag set with the connection flags every
// admin command takes already on it, and what making its client needs.
type adminCmd struct {
	*flag.FlagSet
	conn   cliConn
	getenv func(string) string
	stderr io.Writer
}

func newAdminCmd(name, synopsis, about string, getenv func(string) string, stderr io.Writer) *adminCmd {
	a := &adminCmd{FlagSet: newFlagSet(name, synopsis, about, stderr), getenv: getenv, stderr: stderr}
	a.conn.register(a.FlagSet, getenv, true)
	return a
}

// parse parses args, flags before or after the positional arguments, and
// returns the positional ones.
func (a *adminCmd) parse(args []string) ([]string, error) {
	return parseInterspersed(a.FlagSet, args)
}

// client makes the admin client from the connection flags and environment.
func (a *adminCmd) client() (*client.Client, error) {
	return a.conn.client(a.getenv, a.stderr, true, "")
}

// start parses args, lets check refuse the positional arguments, and only
// then makes the client, so a usage mistake is told before a missing admin
// token is.
func (a *adminCmd) start(args []string, check func(pos []string) error) ([]string, *client.Client, error) {
	pos, err := a.parse(args)
	if err != nil {
		return nil, nil, err
	}
	if err := check(pos); err != nil {
		return nil, nil, err
	}
	c, err := a.client()
	return pos, c, err
}

// noArgs refuses any positional argument.
func noArgs(name string) func([]string) error {
	return func(pos []string) error {
		if len(pos) > 0 {
			return usagef("%s: unexpected argument %q", name, pos[0])
		}
		return nil
	}
}

// oneArg wants exactly one positional argument, described as what.
func oneArg(name, what string) func([]string) error {
	return func(pos []string) error {
		if len(pos) != 1 {
			return usagef("%s: want one %s", name, what)
		}
		return nil
	}
}

// oneNamed describes an admin command on one named thing.
type oneNamed struct {
	name, help string
	arg        string // the synopsis's placeholder: NAME, ID
	what       string // what the one argument is, for the usage error
	withBody   bool   // an optional JSON FILE (or stdin) follows the name
}

// runOneNamed is the CLI of an admin command on one named thing (a pool, a
// token id): connection flags, --json, exactly one name and, withBody, an
// optional JSON file or stdin. call does the work and says how to print its
// answer when --json is not asked for.
func runOneNamed(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer, cmd oneNamed,
	call func(c *client.Client, name string, body json.RawMessage) (out any, print func(), err error)) error {
	usage := cmd.name + " " + cmd.arg + " [flags]"
	if cmd.withBody {
		usage = cmd.name + " " + cmd.arg + " [FILE|-] [flags]"
	}
	a := newAdminCmd(cmd.name, usage, cmd.help, getenv, stderr)
	asJSON := a.Bool("json", false, "print JSON")
	pos, c, err := a.start(args, func(pos []string) error {
		if len(pos) < 1 || (!cmd.withBody && len(pos) > 1) {
			return usagef("%s: want one %s", cmd.name, cmd.what)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var body json.RawMessage
	if cmd.withBody {
		if body, err = readDefinition(cmd.name, pos[1:], stdin); err != nil {
			return err
		}
	}
	out, print, err := call(c, pos[0], body)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, out)
	}
	print()
	return nil
}
