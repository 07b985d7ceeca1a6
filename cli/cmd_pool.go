package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

func runPool(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runSubcommand(ctx, "pool", map[string]subcommand{
		"create":         {"create a pool from its JSON definition (a file or stdin); prints its capability URL once", runPoolCreate},
		"list":           {"list pools with their desired, running, booting, idle and pending capacity", runPoolList},
		"show":           {"show one pool: definition, state and instances (no secrets)", runPoolShow},
		"update":         {"merge JSON (a file or stdin) into a pool's definition", runPoolUpdate},
		"delete":         {"drain a pool and delete it once its instances have ended", runPoolDelete},
		"drain":          {"launch nothing more and end instances as they go idle", runPoolDrain},
		"rotate":         {"give a pool a new capability URL (printed once); the old one stops working", runPoolRotate},
		"revoke":         {"stop a pool's capability URL working (the admin token still reports demand)", runPoolRevoke},
		"demand":         {"report a pool's demand: --pending N --running N --idle N", runPoolDemand},
		"sources":        {"show a pool's CI sources (GitHub, Buildkite, Taskcluster); secrets only as set or not", runPoolSources},
		"sources-update": {"merge JSON (a file or stdin) into a pool's CI sources; secrets are sealed, never shown", runPoolSourcesUpdate},
		"secrets":        {"set, list or remove the secrets a pool's instances get once at boot (values never shown)", runPoolSecrets},
	}, args, getenv, stdin, stdout, stderr)
}

// readDefinition reads JSON from the file named by the one optional
// argument, or from stdin when there is none or it is "-". The bytes go to
// the server as written, so it judges every key the person typed.
func readDefinition(name string, pos []string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case len(pos) > 1:
		return nil, usagef("%s: want at most one file", name)
	case len(pos) == 1 && pos[0] != "-":
		b, err = os.ReadFile(pos[0])
	default:
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !json.Valid(b) {
		return nil, usagef("%s: the definition is not JSON", name)
	}
	return json.RawMessage(b), nil
}

func runPoolCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("pool create", "pool create [FILE|-] [flags]",
		"Creates a pool from its JSON definition (README, \"Pools\"), read from FILE or stdin.\n"+
			"The capability URL is printed once: a cron posts demand to it + /demand.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print the reply as JSON (the capability included)")
	pos, c, err := fs.start(args, func([]string) error { return nil })
	if err != nil {
		return err
	}
	def, err := readDefinition("pool create", pos, stdin)
	if err != nil {
		return err
	}
	out, err := c.CreatePool(ctx, def)
	if err != nil {
		return err
	}
	return printCreatedPool(stdout, out, *asJSON, "Pool created.")
}

func printCreatedPool(stdout io.Writer, out api.CreatedPool, asJSON bool, headline string) error {
	if asJSON {
		return writeJSON(stdout, out)
	}
	fmt.Fprintln(stdout, headline)
	printPool(stdout, out.PoolInfo, false)
	printSecrets(stdout, []secretLine{{"Capability URL", out.URL}, {"Demand URL", out.URL + "/demand"}})
	return nil
}

func runPoolList(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("pool list", "pool list [flags]", "Lists every pool by name, in capacity units (jobs). Shows no secrets.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print JSON: an array of pools")
	_, c, err := fs.start(args, noArgs("pool list"))
	if err != nil {
		return err
	}
	list, err := c.ListPools(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "no pools")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tDESIRED\tRUNNING\tBOOTING\tIDLE\tPENDING\tMIN-MAX\tTOKEN")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d-%d\t%s\n", p.Name, p.Status, desiredCell(p), p.Running, p.Booting, p.Idle, p.Pending,
			p.MinCapacity, p.MaxCapacity, p.TokenID)
	}
	return tw.Flush()
}

// desiredCell shows why a pool holds beside what it would aim at.
func desiredCell(p api.PoolInfo) string {
	if p.Hold != "" {
		return fmt.Sprintf("%d (%s)", p.Desired, p.Hold)
	}
	return fmt.Sprint(p.Desired)
}

func printPool(w io.Writer, p api.PoolInfo, full bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{{"Name", p.Name}, {"Status", p.Status}, {"Token", p.TokenID}, {"Region", p.Region}, {"AMI", p.AMI},
		{"Capacity", fmt.Sprintf("%d-%d (desired %s, running %d, booting %d, idle %d, pending %d)",
			p.MinCapacity, p.MaxCapacity, desiredCell(p), p.Running, p.Booting, p.Idle, p.Pending)}}
	var types []string
	for _, lc := range p.LaunchConfigs {
		types = append(types, fmt.Sprintf("%s×%d", lc.InstanceType, lc.Capacity))
	}
	rows = append(rows, [2]string{"Launch configs", strings.Join(types, ", ")})
	if full {
		if p.Demand != nil && p.Demand.At != nil {
			rows = append(rows, [2]string{"Demand", fmt.Sprintf("%d pending, %d running, %d idle at %s",
				p.Demand.Pending, p.Demand.Running, p.Demand.Idle, p.Demand.At.Format("2006-01-02T15:04:05Z07:00"))})
		}
		capState := "active since " + p.Capability.IssuedAt.Format("2006-01-02T15:04:05Z07:00")
		if p.Capability.RevokedAt != nil {
			capState = "revoked at " + p.Capability.RevokedAt.Format("2006-01-02T15:04:05Z07:00")
		}
		rows = append(rows, [2]string{"Capability", capState}, [2]string{"Instances", fmt.Sprint(len(p.Instances))})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s:\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

// runOnePool is an admin command on one pool name with --json.
func runOnePool(_ context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer, name, help string, withBody bool,
	call func(c *client.Client, pool string, body json.RawMessage) (any, func(), error)) error {
	return runOneNamed(args, getenv, stdin, stdout, stderr, oneNamed{name: name, help: help, arg: "NAME", what: "pool name", withBody: withBody}, call)
}

func runPoolShow(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool show", "Shows one pool. Shows no secrets; --json has every field.", false,
		func(c *client.Client, name string, _ json.RawMessage) (any, func(), error) {
			p, err := c.GetPool(ctx, name)
			return p, func() { printPool(stdout, p, true) }, err
		})
}

func runPoolUpdate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool update",
		"Merges JSON from FILE or stdin into the pool's definition: a field given replaces the stored one,\n"+
			"null restores its default, a list is replaced whole. The result is checked as a create.", true,
		func(c *client.Client, name string, patch json.RawMessage) (any, func(), error) {
			p, err := c.UpdatePool(ctx, name, patch)
			return p, func() { fmt.Fprintln(stdout, "Pool updated."); printPool(stdout, p, false) }, err
		})
}

func runPoolDelete(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool delete",
		"Drains the pool and revokes its capability; the pool goes once its instances have ended.", false,
		func(c *client.Client, name string, _ json.RawMessage) (any, func(), error) {
			p, err := c.DeletePool(ctx, name)
			return p, func() {
				fmt.Fprintf(stdout, "Pool %s is being deleted: it drains, and goes once its %d instances have ended.\n", p.Name, len(p.Instances))
			}, err
		})
}

func runPoolDrain(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool drain",
		"Makes the pool launch nothing more and end its instances as they go idle. `pool update NAME` with {\"draining\": false} undoes it.", false,
		func(c *client.Client, name string, _ json.RawMessage) (any, func(), error) {
			p, err := c.DrainPool(ctx, name)
			return p, func() { fmt.Fprintf(stdout, "Pool %s is draining.\n", p.Name) }, err
		})
}

func runPoolRotate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("pool rotate", "pool rotate NAME [flags]", "Gives the pool a new capability URL, printed once; the old one stops working at once.", getenv, stderr)
	asJSON := fs.Bool("json", false, "print the reply as JSON (the capability included)")
	pos, c, err := fs.start(args, oneArg("pool rotate", "pool name"))
	if err != nil {
		return err
	}
	out, err := c.RotatePoolCapability(ctx, pos[0])
	if err != nil {
		return err
	}
	return printCreatedPool(stdout, out, *asJSON, "Capability rotated.")
}

func runPoolRevoke(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOnePool(ctx, args, getenv, stdin, stdout, stderr, "pool revoke",
		"Stops the pool's capability URL working; `pool rotate` makes a new one.", false,
		func(c *client.Client, name string, _ json.RawMessage) (any, func(), error) {
			p, err := c.RevokePoolCapability(ctx, name)
			return p, func() { fmt.Fprintf(stdout, "Pool %s's capability is revoked.\n", p.Name) }, err
		})
}

func runPoolDemand(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newAdminCmd("pool demand", "pool demand NAME --pending N [--running N] [--idle N] [flags]",
		"Reports a pool's demand with the admin token (a cron would post the same JSON to the pool's URL + /demand).", getenv, stderr)
	var d api.DemandRequest
	fs.IntVar(&d.Pending, "pending", 0, "jobs waiting")
	fs.IntVar(&d.Running, "running", 0, "jobs running")
	fs.IntVar(&d.Idle, "idle", 0, "agents idle")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, c, err := fs.start(args, oneArg("pool demand", "pool name"))
	if err != nil {
		return err
	}
	out, err := c.ReportDemand(ctx, pos[0], d)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, out)
	}
	hold := ""
	if out.Hold != "" {
		hold = " (" + out.Hold + ")"
	}
	fmt.Fprintf(stdout, "Demand stored for %s: %d pending, %d running, %d idle; desired %d%s.\n",
		out.Pool, out.Demand.Pending, out.Demand.Running, out.Demand.Idle, out.Desired, hold)
	return nil
}
