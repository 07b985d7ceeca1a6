package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

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
		{policy.TaskLaunch, "launch spot instances"},
		{policy.TaskTerminate, "terminate instances this token launched"},
		{policy.TaskStatus, "show this token's instances"},
		{policy.TaskPrice, "show spot prices for the allowed instance types"},
		{policy.TaskCancel, "cancel this token's open spot requests"},
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
	case policy.TaskLaunch:
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
	case policy.TaskTerminate:
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "instances to terminate, comma-separated (or as arguments)")
		fs.BoolVar(&f.all, "all", false, "terminate every instance this token launched")
	case policy.TaskStatus:
		fs.StringVar(&f.instanceIDs, "instance-ids", "", "show only these instances, comma-separated (or as arguments)")
	case policy.TaskPrice:
		fs.StringVar(&f.instanceTypes, "instance-types", "", "instance types to price, comma-separated (default: the policy's)")
	}
	if task == policy.TaskLaunch || task == policy.TaskTerminate || task == policy.TaskCancel {
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
	raw := strings.TrimSpace(or(f.capURL, getenv(cliEnvCapURL)))
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
func (f *taskFlags) body(task string, pos []string) (client.TaskRequest, error) {
	b := client.TaskRequest{Task: task, Region: f.region}
	switch task {
	case policy.TaskLaunch:
		if len(pos) > 0 {
			return b, usagef("task launch: unexpected argument %q", pos[0])
		}
		b.InstanceTypes, b.Count, b.MaxPrice = splitList(f.instanceTypes), f.count, f.maxPrice
		b.Preset = f.preset
		b.AMI, b.KeyName = f.ami, f.keyName
		b.SecurityGroups, b.Subnets = splitList(f.securityGrps), splitList(f.subnets)
		b.DryRun, b.OnDemandFallback = f.dryRun, f.onDemand
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
	case policy.TaskTerminate, policy.TaskStatus:
		b.InstanceIDs = append(splitList(f.instanceIDs), pos...)
		b.All = f.all
		if task == policy.TaskTerminate && !b.All && len(b.InstanceIDs) == 0 {
			return b, usagef("task terminate: name instance ids, or --all")
		}
		if b.All && len(b.InstanceIDs) > 0 {
			return b, usagef("task terminate: instance ids or --all, not both")
		}
	case policy.TaskPrice:
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
	synopsis := "task " + task + " [--url URL | --token TOKEN] [flags]"
	if task == policy.TaskTerminate || task == policy.TaskStatus {
		synopsis = "task " + task + " [--url URL | --token TOKEN] [flags] [INSTANCE-ID…]"
	}
	fs := newFlagSet("task "+task, synopsis,
		"POSTs a '"+task+"' task to a capability URL (or to --server with a bearer token),\n"+
			"signing the body when a signing secret is given.", stderr)
	var f taskFlags
	f.register(fs, task, getenv)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	body, err := f.body(task, pos)
	if err != nil {
		return err
	}
	capab, server, err := f.capability(getenv)
	if err != nil {
		return err
	}
	var secret []byte
	switch {
	case f.signingFile != "":
		s, err := readSecretFile("--signing-secret-file", f.signingFile)
		if err != nil {
			return err
		}
		secret = []byte(s)
	case getenv(cliEnvSigningSecret) != "":
		secret = []byte(strings.TrimSpace(getenv(cliEnvSigningSecret)))
	}
	if f.wait && f.conn.timeout != 0 && f.conn.timeout < f.waitTimeout+30*time.Second {
		// Under MFA the server does the waiting within one request.
		f.conn.timeout = f.waitTimeout + 30*time.Second
	}
	c, err := f.conn.client(getenv, stderr, false, server)
	if err != nil {
		return err
	}
	switch {
	case f.mfaCode != "" && f.mfaPrompt:
		return usagef("--mfa-code or --mfa, not both")
	case f.mfaCode != "":
		body.MFACode = strings.TrimSpace(f.mfaCode)
	case f.mfaPrompt:
		if body.MFACode, err = readLine(stdin, stderr, "MFA code: ", "the MFA code"); err != nil {
			return err
		}
	}
	key := f.idemKey
	if key == "" && (task == policy.TaskLaunch || task == policy.TaskTerminate || task == policy.TaskCancel) {
		key = rand.Text()
		// Only a real launch is worth retrying by key: a dry run launches
		// nothing, and a terminate or cancel done twice changes nothing.
		if task == policy.TaskLaunch && !body.DryRun {
			fmt.Fprintf(stderr, "spotter: idempotency key %s (to retry without doing it twice: --idempotency-key %s)\n", key, key)
		}
	}
	// A code is accepted once, so under MFA the status polls of --wait
	// cannot run: the server waits instead, bounded by its own limit.
	serverWait := f.wait && body.MFACode != "" && !body.DryRun
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
		// The launch's warnings now, since the status reply replaces it.
		if !f.asJSON {
			printWarnings(stderr, reply.Raw)
		}
		final, err := waitRunning(ctx, c, capab, secret, body.Region, reply.Instances, f.waitTimeout, stderr)
		if err != nil {
			// The launch itself succeeded: show it before the wait's error.
			_ = printTaskReply(stdout, stderr, reply, f.asJSON)
			return err
		}
		// The launch reply stays what is printed (pools, template,
		// warnings); the wait only brings its instances up to date.
		if reply, err = withStatusOf(reply, final, !f.asJSON); err != nil {
			return err
		}
	}
	if err := printTaskReply(stdout, stderr, reply, f.asJSON); err != nil {
		return err
	}
	// A partial terminate is a failure for scripts, though the reply above
	// says which instances were ended.
	var refused struct {
		Refused []json.RawMessage `json:"refused"`
	}
	if task == policy.TaskTerminate && json.Unmarshal(reply.Raw, &refused) == nil && len(refused.Refused) > 0 {
		return fmt.Errorf("task terminate: %d instance(s) refused", len(refused.Refused))
	}
	return nil
}

// printWarnings prints a reply's warnings on stderr.
func printWarnings(stderr io.Writer, raw json.RawMessage) {
	var r struct {
		Warnings []any `json:"warnings"`
	}
	if json.Unmarshal(raw, &r) == nil {
		for _, w := range r.Warnings {
			fmt.Fprintf(stderr, "spotter: warning: %s\n", cell(w))
		}
	}
}

// withProgress runs call while a line on stderr counts the seconds.
func withProgress(ctx context.Context, stderr io.Writer, what string, call func() (client.TaskReply, error)) (client.TaskReply, error) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			progressLine(stderr, fmt.Sprintf("%s… %s", what, time.Since(start).Round(time.Second)))
			select {
			case <-done:
				progressEnd(stderr)
				return
			case <-ctx.Done():
				progressEnd(stderr)
				return
			case <-tick.C:
			}
		}
	}()
	r, err := call()
	close(done)
	<-finished
	return r, err
}

// progressLine rewrites one line on a terminal; elsewhere it prints a line
// per change, so logs stay readable.
func progressLine(w io.Writer, s string) {
	if isTerminal(w) {
		fmt.Fprintf(w, "\r\033[K%s", s)
		return
	}
	fmt.Fprintln(w, s)
}

func progressEnd(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprintln(w)
	}
}

// waitRunning polls status until every launched instance runs, one leaves
// (terminated, stopped…), or timeout passes. It returns the last status
// reply narrowed to the launched instances.
func waitRunning(ctx context.Context, c *client.Client, capab string, secret []byte, region string, launched []client.Instance, timeout time.Duration, stderr io.Writer) (client.TaskReply, error) {
	ids := make([]string, len(launched))
	for i, in := range launched {
		ids[i] = in.ID
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start, last := time.Now(), ""
	for {
		select {
		case <-ctx.Done():
			progressEnd(stderr)
			return client.TaskReply{}, fmt.Errorf("wait: instances not all running after %s; they keep starting: see spotter task status", timeout)
		case <-time.After(pollInterval):
		}
		st, err := c.Task(ctx, capab, client.TaskRequest{Task: policy.TaskStatus, Region: region, InstanceIDs: ids}, secret, "")
		if err != nil {
			progressEnd(stderr)
			if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
				return client.TaskReply{}, fmt.Errorf("wait: instances not all running after %s; they keep starting: see spotter task status", timeout)
			}
			return client.TaskReply{}, fmt.Errorf("wait: poll status: %w", err)
		}
		st, err = onlyInstances(st, ids)
		if err != nil {
			progressEnd(stderr)
			return client.TaskReply{}, err
		}
		states := map[string]int{}
		for _, in := range st.Instances {
			states[or(in.State, "unknown")]++
		}
		summary := fmt.Sprintf("waiting for %d instance(s): %s", len(ids), stateSummary(states, len(ids)-len(st.Instances)))
		// On a terminal the line is rewritten with the time; in a log, a
		// line is added only when the states change.
		if isTerminal(stderr) || summary != last {
			progressLine(stderr, fmt.Sprintf("%s (%s)", summary, time.Since(start).Round(time.Second)))
			last = summary
		}
		if states["running"] == len(ids) {
			progressEnd(stderr)
			return st, nil
		}
		for s, n := range states {
			if n > 0 && s != "running" && s != "pending" {
				progressEnd(stderr)
				return st, fmt.Errorf("wait: %d instance(s) %s instead of running", n, s)
			}
		}
	}
}

func stateSummary(states map[string]int, missing int) string {
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, s)
	}
	sort.Strings(names)
	var parts []string
	for _, s := range names {
		parts = append(parts, fmt.Sprintf("%d %s", states[s], s))
	}
	if missing > 0 {
		parts = append(parts, fmt.Sprintf("%d not yet listed", missing))
	}
	return strings.Join(parts, ", ")
}

// onlyInstances narrows a status reply, typed and raw, to the given ids.
func onlyInstances(r client.TaskReply, ids []string) (client.TaskReply, error) {
	r.Instances = slices.DeleteFunc(r.Instances, func(in client.Instance) bool { return !slices.Contains(ids, in.ID) })
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		return r, fmt.Errorf("decode status reply: %w", err)
	}
	if list, ok := m["instances"].([]any); ok {
		m["instances"] = slices.DeleteFunc(list, func(v any) bool {
			o, _ := v.(map[string]any)
			id, _ := o["id"].(string)
			return !slices.Contains(ids, id)
		})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return r, err
	}
	r.Raw = raw
	return r, nil
}

// withStatusOf updates the instances of a launch reply with what a later
// status reply says of them (state, addresses, TTL left), keeping the rest
// of the launch reply. dropWarnings leaves out the warnings, already shown.
func withStatusOf(launch, status client.TaskReply, dropWarnings bool) (client.TaskReply, error) {
	var m, st map[string]any
	if err := json.Unmarshal(launch.Raw, &m); err != nil {
		return launch, fmt.Errorf("decode launch reply: %w", err)
	}
	if err := json.Unmarshal(status.Raw, &st); err != nil {
		return launch, fmt.Errorf("decode status reply: %w", err)
	}
	now := map[string]map[string]any{}
	if list, ok := st["instances"].([]any); ok {
		for _, v := range list {
			if o, ok := v.(map[string]any); ok {
				id, _ := o["id"].(string)
				now[id] = o
			}
		}
	}
	if list, ok := m["instances"].([]any); ok {
		for _, v := range list {
			o, _ := v.(map[string]any)
			id, _ := o["id"].(string)
			for k, val := range now[id] {
				o[k] = val
			}
		}
	}
	if dropWarnings {
		delete(m, "warnings")
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return launch, err
	}
	launch.Raw = raw
	for i, in := range launch.Instances {
		for _, s := range status.Instances {
			if s.ID == in.ID {
				launch.Instances[i] = s
			}
		}
	}
	return launch, nil
}

// taskColumns is the column order for task tables; other fields follow,
// sorted.
func taskColumns() []string {
	return []string{"id", "type", "az", "availabilityZone", "lifecycle", "state", "price", "spot", "onDemand", "savingPct", "vcpu", "perVcpu",
		"expiresAt", "ttlLeftSeconds", "launchTime", "costSoFar", "privateIp", "publicIp", "reason"}
}

// printTaskReply prints a reply: --json as the server sent it; otherwise
// each list of objects as a table, other lists and values as lines, and
// warnings on stderr. It reads the raw reply rather than fixed types so
// whatever a task returns is shown.
func printTaskReply(stdout, stderr io.Writer, r client.TaskReply, asJSON bool) error {
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	if asJSON {
		return writeJSON(stdout, m)
	}
	delete(m, "code")
	printWarnings(stderr, r.Raw)
	delete(m, "warnings")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var tables []string
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		if _, ok := objectList(m[k]); ok {
			tables = append(tables, k)
			continue
		}
		v := cell(m[k])
		if l, ok := m[k].([]any); ok && len(l) == 0 {
			v = "none"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range tables {
		rows, _ := objectList(m[k])
		fmt.Fprintf(stdout, "\n%s (%d):\n", k, len(rows))
		printTable(stdout, rows)
	}
	return nil
}

// objectList reports whether v is a non-empty JSON list of objects. An
// empty list prints as "none": it could have held strings or objects.
func objectList(v any) ([]map[string]any, bool) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	rows := make([]map[string]any, 0, len(list))
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		rows = append(rows, o)
	}
	return rows, true
}

func printTable(w io.Writer, rows []map[string]any) {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			seen[k] = true
		}
	}
	var cols []string
	for _, c := range taskColumns() {
		if seen[c] {
			cols = append(cols, c)
			delete(seen, c)
		}
	}
	var rest []string
	for c := range seen {
		rest = append(rest, c)
	}
	sort.Strings(rest)
	cols = append(cols, rest...)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = cell(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	tw.Flush()
}
