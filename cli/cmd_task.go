package cli

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
	"github.com/spotter-dev/spotter/policy"
)

// maxUserData is EC2's limit on user data before base64; spotter adds its
// TTL guard to it, so the server may refuse less, but never accepts more.
const maxUserData = policy.MaxUserDataBytes

// pollInterval spaces status polls under --wait. Above one second, so two
// signed polls never carry the same timestamp: a signature is accepted once.
const pollInterval = 2 * time.Second

func runTask(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	subs := map[string]subcommand{}
	for _, t := range []struct{ name, summary string }{
		{api.TaskLaunch, "launch spot instances"},
		{api.TaskTerminate, "terminate instances this token launched"},
		{api.TaskStatus, "show this token's instances"},
		{api.TaskPrice, "show spot prices for the allowed instance types"},
		{api.TaskCancel, "cancel this token's open spot requests"},
		{api.TaskExtend, "set the TTL, from launch, of instances this token launched (within maxTTL)"},
	} {
		subs[t.name] = subcommand{t.summary, func(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
			return runOneTask(ctx, t.name, args, getenv, stdin, stdout, stderr)
		}}
	}
	return runSubcommand(ctx, "task", subs, args, getenv, stdin, stdout, stderr)
}

// taskFlags are the flags of one task command. Which exist depends on the
// task, so each --help lists only what that task reads.
type taskFlags struct {
	conn          cliConn
	capURL        string
	capToken      string
	capTokenFile  string
	signingFile   string
	mfaCode       string
	mfaPrompt     bool
	asJSON        bool
	idemKey       string
	region        string
	instanceTypes string
	preset        string
	count         int
	maxPrice      float64
	ami           string
	keyName       string
	securityGrps  string
	subnets       string
	userDataFile  string
	ttl           time.Duration
	dryRun        bool
	onDemand      bool
	tags          tagFlag
	instanceIDs   string
	all           bool
	limit         int
	cursor        string
	wait          bool
	waitTimeout   time.Duration
}

func (f *taskFlags) register(fs *flag.FlagSet, task string, getenv func(string) string) {
	f.conn.register(fs, getenv, false)
	fs.Lookup("server").Usage = "spotter server URL, for --token (a capability URL names its own server) (env " + cliEnvServer + ")"
	fs.StringVar(&f.capURL, "url", "", "capability URL as token create printed it (env "+cliEnvCapURL+"; prefer the env: flags land in shell history)")
	fs.StringVar(&f.capToken, "token", "", "capability token, sent to --server as a bearer token (env "+cliEnvCapToken+")")
	fs.StringVar(&f.capTokenFile, "token-file", "", "read the capability token from this file")
	fs.StringVar(&f.signingFile, "signing-secret-file", "", "sign the body with the secret in this file (env "+cliEnvSigningSecret+")")
	fs.StringVar(&f.mfaCode, "mfa-code", "", "MFA one-time code, for tokens that need one")
	fs.BoolVar(&f.mfaPrompt, "mfa", false, "ask for the MFA code (read from stdin when it is not a terminal)")
	fs.BoolVar(&f.asJSON, "json", false, "print the server's reply as JSON")
	fs.StringVar(&f.region, "region", "", "region (default: the policy's first)")
	switch task {
	case api.TaskLaunch:
		f.tags = tagFlag{}
		fs.StringVar(&f.instanceTypes, "instance-types", "", "instance types to choose from, comma-separated (default: the policy's)")
		fs.StringVar(&f.preset, "preset", "", "a launch the token's policy names (its types, AMI, count, TTL, price); flags given here win")
		fs.IntVar(&f.count, "count", 0, "number of instances (default 1)")
		fs.Float64Var(&f.maxPrice, "max-price", 0, "highest spot price, $ per instance-hour")
		fs.StringVar(&f.ami, "ami", "", "AMI (default: the policy's, when it names one)")
		fs.StringVar(&f.keyName, "key-name", "", "EC2 key pair")
		fs.StringVar(&f.securityGrps, "security-groups", "", "security groups, comma-separated")
		fs.StringVar(&f.subnets, "subnets", "", "subnets, comma-separated")
		fs.StringVar(&f.userDataFile, "user-data-file", "", "user data file (sent base64; the policy must allow user data)")
		fs.DurationVar(&f.ttl, "ttl", 0, "instance lifetime (default: the policy's)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "ask EC2 whether the launch would succeed, and at what price; launch nothing")
		fs.BoolVar(&f.onDemand, "on-demand-fallback", false, "launch on-demand where spot capacity is short (if the policy allows)")
		fs.Var(f.tags, "tag", "instance tag key=value (repeatable)")
		fs.BoolVar(&f.wait, "wait", false, "wait until the instances run, showing progress, then print their addresses")
		fs.DurationVar(&f.waitTimeout, "wait-timeout", 5*time.Minute, "give up waiting after this long (the instances keep running)")
	case api.TaskTerminate:
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "instances to terminate, comma-separated (or as arguments)")
		fs.BoolVar(&f.all, "all", false, "terminate every instance this token launched")
	case api.TaskExtend:
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "instances to extend, comma-separated (or as arguments)")
		fs.BoolVar(&f.all, "all", false, "extend every live instance this token launched")
		fs.DurationVar(&f.ttl, "ttl", 0, "the new time to live, counted from launch (required; at most the policy's maxTTL)")
	case api.TaskStatus:
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "show only these instances, comma-separated (or as arguments)")
		fs.IntVar(&f.limit, "limit", 0, "instances per page, 5 to 1000 (default 100; not with instance ids)")
		fs.StringVar(&f.cursor, "cursor", "", "the nextCursor of the previous page, for the next one")
	case api.TaskPrice:
		fs.StringVar(&f.instanceTypes, "instance-types", "", "instance types to price, comma-separated (default: the policy's)")
	}
	if task == api.TaskLaunch || task == api.TaskTerminate || task == api.TaskCancel {
		fs.StringVar(&f.idemKey, "idempotency-key", "", "makes a retry the same request (default: a new random key, printed so a retry can reuse it)")
	}
}

// capability returns the capability URL or token, and the server to build
// the client for (a URL's own origin).
func (f *taskFlags) capability(getenv func(string) string) (capability, server string, err error) {
	n := 0
	for _, s := range []string{f.capURL, f.capToken, f.capTokenFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return "", "", usagef("name the capability once: --url, --token or --token-file")
	}
	switch {
	case f.capToken != "":
		return f.capToken, "", nil
	case f.capTokenFile != "":
		tok, err := readSecretFile("--token-file", f.capTokenFile)
		return tok, "", err
	case f.capURL == "" && getenv(cliEnvCapURL) == "" && getenv(cliEnvCapToken) != "":
		return strings.TrimSpace(getenv(cliEnvCapToken)), "", nil
	}
	raw := strings.TrimSpace(cmp.Or(f.capURL, getenv(cliEnvCapURL)))
	if raw == "" {
		return "", "", usagef("no capability: pass --url (or set %s) with the URL token create printed, or --token/--token-file/%s", cliEnvCapURL, cliEnvCapToken)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		// Not err's text: it would quote the URL, token and all.
		return "", "", usagef("--url: want the capability URL, https://<server>/hooks/<token>")
	}
	return raw, u.Scheme + "://" + u.Host, nil
}

// body builds the task body from the flags; positional arguments are
// instance ids for terminate and status.
func (f *taskFlags) body(task string, pos []string) (api.TaskRequest, error) {
	b := api.TaskRequest{Task: task, Region: f.region}
	switch task {
	case api.TaskLaunch:
		if len(pos) > 0 {
			return b, usagef("task launch: unexpected argument %q", pos[0])
		}
		b.InstanceTypes, b.MaxPrice = splitList(f.instanceTypes), api.FlexPrice(f.maxPrice)
		if f.count != 0 { // absent: the server's one
			b.Count = &f.count
		}
		b.Preset = f.preset
		b.AMI, b.KeyName = f.ami, f.keyName
		b.SecurityGroups, b.Subnets = splitList(f.securityGrps), splitList(f.subnets)
		b.DryRun = api.FlexBool(f.dryRun)
		if f.onDemand { // absent: the policy's
			on := api.FlexBool(true)
			b.OnDemandFallback = &on
		}
		if f.ttl != 0 {
			b.TTL = f.ttl.String()
		}
		if len(f.tags) > 0 {
			b.Tags = f.tags
		}
		if f.userDataFile != "" {
			ud, err := os.ReadFile(f.userDataFile)
			if err != nil {
				return b, fmt.Errorf("--user-data-file: %w", err)
			}
			if len(ud) > maxUserData {
				return b, fmt.Errorf("--user-data-file: %d bytes; EC2 takes at most %d", len(ud), maxUserData)
			}
			b.UserData = base64.StdEncoding.EncodeToString(ud)
		}
	case api.TaskTerminate, api.TaskStatus, api.TaskExtend:
		b.InstanceIDs = append(splitList(f.instanceIDs), pos...)
		b.All = f.all
		if task != api.TaskStatus && !b.All && len(b.InstanceIDs) == 0 {
			return b, usagef("task %s: name instance ids, or --all", task)
		}
		if b.All && len(b.InstanceIDs) > 0 {
			return b, usagef("task %s: instance ids or --all, not both", task)
		}
		if task == api.TaskExtend {
			if f.ttl <= 0 {
				return b, usagef("task extend: --ttl is required: the new TTL, counted from launch, such as --ttl 4h")
			}
			b.TTL = f.ttl.String()
		}
		if f.limit != 0 || f.cursor != "" {
			if len(b.InstanceIDs) > 0 {
				return b, usagef("task status: instance ids or --limit/--cursor, not both")
			}
			if f.limit != 0 { // absent: the server's 100
				b.Limit = &f.limit
			}
			b.Cursor = f.cursor
		}
	case api.TaskPrice:
		if len(pos) > 0 {
			return b, usagef("task price: unexpected argument %q", pos[0])
		}
		b.InstanceTypes = splitList(f.instanceTypes)
	default:
		if len(pos) > 0 {
			return b, usagef("task %s: unexpected argument %q", task, pos[0])
		}
	}
	return b, nil
}

func runOneTask(ctx context.Context, task string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, body, err := parseTaskFlags(task, args, getenv, stderr)
	if err != nil {
		return err
	}
	capab, server, err := f.capability(getenv)
	if err != nil {
		return err
	}
	secret, err := f.signingSecret(getenv)
	if err != nil {
		return err
	}
	if f.wait && f.conn.timeout != 0 && f.conn.timeout < f.waitTimeout+30*time.Second {
		// Under MFA the server does the waiting within one request.
		f.conn.timeout = f.waitTimeout + 30*time.Second
	}
	c, err := f.conn.client(getenv, stderr, false, server)
	if err != nil {
		return err
	}
	if body.MFACode, err = f.mfa(stdin, stderr); err != nil {
		return err
	}
	key := f.idempotencyKey(task, bool(body.DryRun), stderr)
	// A code is accepted once, so under MFA the status polls of --wait
	// cannot run: the server waits instead, bounded by its own limit.
	serverWait := f.wait && body.MFACode != "" && !bool(body.DryRun)
	body.Wait = serverWait

	var reply client.TaskReply
	if serverWait {
		reply, err = withProgress(ctx, stderr, "waiting for the server to report the instances running", func() (client.TaskReply, error) {
			return c.Task(ctx, capab, body, secret, key)
		})
	} else {
		reply, err = c.Task(ctx, capab, body, secret, key)
	}
	if err != nil {
		return err
	}
	if reply.Replayed {
		fmt.Fprintln(stderr, "spotter: this request was already done (same idempotency key): showing its result, nothing new was launched")
	}
	if f.wait && !serverWait && !reply.DryRun && len(reply.Instances) > 0 {
		if reply, err = f.waitFor(ctx, c, capab, secret, body.Region, reply, stdout, stderr); err != nil {
			return err
		}
	}
	if err := printTaskReply(stdout, stderr, reply, f.asJSON); err != nil {
		return err
	}
	return terminateRefused(task, reply)
}

// parseTaskFlags reads a task command's flags and builds its body.
func parseTaskFlags(task string, args []string, getenv func(string) string, stderr io.Writer) (*taskFlags, api.TaskRequest, error) {
	synopsis := "task " + task + " [--url URL | --token TOKEN] [flags]"
	if task == api.TaskTerminate || task == api.TaskStatus || task == api.TaskExtend {
		synopsis = "task " + task + " [--url URL | --token TOKEN] [flags] [INSTANCE-ID…]"
	}
	fs := newFlagSet("task "+task, synopsis,
		"POSTs a '"+task+"' task to a capability URL (or to --server with a bearer token),\n"+
			"signing the body when a signing secret is given.", stderr)
	f := &taskFlags{}
	f.register(fs, task, getenv)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return f, api.TaskRequest{}, err
	}
	body, err := f.body(task, pos)
	return f, body, err
}

// signingSecret is the body-signing secret from --signing-secret-file or
// the environment; nil signs nothing.
func (f *taskFlags) signingSecret(getenv func(string) string) ([]byte, error) {
	switch {
	case f.signingFile != "":
		s, err := readSecretFile("--signing-secret-file", f.signingFile)
		if err != nil {
			return nil, err
		}
		return []byte(s), nil
	case getenv(cliEnvSigningSecret) != "":
		return []byte(strings.TrimSpace(getenv(cliEnvSigningSecret))), nil
	}
	return nil, nil
}

// mfa is the MFA code from --mfa-code, or asked for with --mfa.
func (f *taskFlags) mfa(stdin io.Reader, stderr io.Writer) (string, error) {
	switch {
	case f.mfaCode != "" && f.mfaPrompt:
		return "", usagef("--mfa-code or --mfa, not both")
	case f.mfaCode != "":
		return strings.TrimSpace(f.mfaCode), nil
	case f.mfaPrompt:
		return readLine(stdin, stderr, "MFA code: ", "the MFA code")
	}
	return "", nil
}

// idempotencyKey is --idempotency-key, or a new random one for the tasks
// that change something.
func (f *taskFlags) idempotencyKey(task string, dryRun bool, stderr io.Writer) string {
	key := f.idemKey
	if key == "" && (task == api.TaskLaunch || task == api.TaskTerminate || task == api.TaskCancel) {
		key = rand.Text()
		// Only a real launch is worth retrying by key: a dry run launches
		// nothing, and a terminate or cancel done twice changes nothing.
		if task == api.TaskLaunch && !dryRun {
			fmt.Fprintf(stderr, "spotter: idempotency key %s (to retry without doing it twice: --idempotency-key %s)\n", key, key)
		}
	}
	return key
}

// waitFor polls until the launch's instances run and returns the launch
// reply brought up to date; on a failed wait it prints the launch first.
func (f *taskFlags) waitFor(ctx context.Context, c *client.Client, capab string, secret []byte, region string, reply client.TaskReply, stdout, stderr io.Writer) (client.TaskReply, error) {
	// The launch's warnings now, since the status reply replaces it.
	if !f.asJSON {
		printWarnings(stderr, reply.Raw)
	}
	final, err := waitRunning(ctx, c, capab, secret, region, reply.Instances, f.waitTimeout, stderr)
	if err != nil {
		// The launch itself succeeded: show it before the wait's error.
		_ = printTaskReply(stdout, stderr, reply, f.asJSON)
		return reply, err
	}
	// The launch reply stays what is printed (pools, template, warnings);
	// the wait only brings its instances up to date.
	return withStatusOf(reply, final, !f.asJSON)
}

// terminateRefused makes a partial terminate (or extend) a failure for
// scripts, though the reply printed says which instances it did.
func terminateRefused(task string, reply client.TaskReply) error {
	var refused struct {
		Refused []json.RawMessage `json:"refused"`
	}
	if (task == api.TaskTerminate || task == api.TaskExtend) && json.Unmarshal(reply.Raw, &refused) == nil && len(refused.Refused) > 0 {
		return fmt.Errorf("task %s: %d instance(s) refused", task, len(refused.Refused))
	}
	return nil
}
