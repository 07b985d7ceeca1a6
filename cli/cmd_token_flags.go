package cli

// The flag groups of token create and rotate: credentials, TOTP QR output
// and the policy's convenience flags.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
)

// credFlags are the credential flags shared by create and rotate.
type credFlags struct {
	accessKeyID string
	secretStdin bool
	roleARN     string
	externalID  string
}

func (c *credFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.accessKeyID, "access-key-id", "", "AWS access key id (create's default: env "+cliEnvAWSKeyID+")")
	fs.BoolVar(&c.secretStdin, "secret-access-key-stdin", false, "read the AWS secret access key from stdin (default: env "+cliEnvAWSSecret+"); never a flag value, which shell history keeps")
	fs.StringVar(&c.roleARN, "role-arn", "", "IAM role to assume, with the keys if given, else with the server's own identity")
	fs.StringVar(&c.externalID, "external-id", "", "external id for --role-arn")
}

// credentials builds the credentials the flags name, or nil when they name
// none. fromEnv lets the standard AWS variables supply keys when no flag
// names any credentials.
func (c *credFlags) credentials(getenv func(string) string, stdin io.Reader, stderr io.Writer, fromEnv bool) (*api.CredentialsInput, error) {
	keyID := c.accessKeyID
	if keyID == "" && c.roleARN == "" && fromEnv {
		if keyID = getenv(cliEnvAWSKeyID); keyID != "" {
			fmt.Fprintf(stderr, "spotter: using %s %s from the environment\n", cliEnvAWSKeyID, api.MaskKey(keyID))
		}
	}
	if c.secretStdin && keyID == "" {
		return nil, usagef("--secret-access-key-stdin needs --access-key-id")
	}
	if c.externalID != "" && c.roleARN == "" {
		return nil, usagef("--external-id needs --role-arn")
	}
	if keyID == "" && c.roleARN == "" {
		return nil, nil
	}
	cr := &api.CredentialsInput{AccessKeyID: keyID, RoleARN: c.roleARN, ExternalID: c.externalID}
	if keyID != "" {
		switch {
		case c.secretStdin:
			s, err := readLine(stdin, stderr, "AWS secret access key (input is shown): ", "the secret access key")
			if err != nil {
				return nil, err
			}
			cr.SecretAccessKey = s
		case getenv(cliEnvAWSSecret) != "":
			cr.SecretAccessKey = strings.TrimSpace(getenv(cliEnvAWSSecret))
		default:
			return nil, fmt.Errorf("access key %s needs its secret: pass --secret-access-key-stdin or set %s", api.MaskKey(keyID), cliEnvAWSSecret)
		}
	}
	return cr, nil
}

// qrFlags print or save a TOTP enrolment's QR code.
type qrFlags struct {
	show   bool
	invert bool
	png    string
}

func (q *qrFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&q.show, "qr", false, "print the TOTP QR code in the terminal, for an authenticator app to scan")
	fs.BoolVar(&q.invert, "qr-invert", false, "with --qr: draw dark modules, for terminals with a light background")
	fs.StringVar(&q.png, "qr-png", "", "write the TOTP QR code as a PNG to this file (mode 0600: it holds the secret)")
}

func (q *qrFlags) wanted() bool { return q.show || q.png != "" }

// emit shows the QR code on w (stderr under --json, so stdout stays JSON)
// and writes the PNG.
func (q *qrFlags) emit(e *api.TOTPEnrolment, w, stderr io.Writer) error {
	if !q.wanted() {
		return nil
	}
	if e == nil {
		return fmt.Errorf("the server returned no TOTP enrolment to draw")
	}
	if q.png != "" {
		if err := writeNewFile(q.png, e.QRPNG); err != nil {
			return fmt.Errorf("--qr-png: %w", err)
		}
		fmt.Fprintf(stderr, "spotter: TOTP QR code written to %s (it holds the TOTP secret)\n", q.png)
	}
	if q.show {
		fmt.Fprintln(w, "\nScan with an authenticator app:")
		if err := writeQR(w, e.OTPAuthURL, q.invert); err != nil {
			return err
		}
	}
	return nil
}

// writeNewFile writes a secret to a file no one else can read, refusing to
// overwrite one that exists: a typo should not clobber something else.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// policyFlags are the convenience flags that fill a policy; each overrides
// the same field of --policy-file.
type policyFlags struct {
	file           string
	regions        string
	instanceTypes  string
	maxCount       int
	maxRunning     int
	maxPrice       float64
	maxHourly      float64
	ttl            time.Duration
	maxTTL         time.Duration
	amis           string
	keyName        string
	securityGroups string
	subnets        string
	tasks          string
	dryRunOnly     bool
	onDemand       bool
	allowUserData  bool
	tags           tagFlag
}

func (p *policyFlags) register(fs *flag.FlagSet) {
	p.tags = tagFlag{}
	fs.StringVar(&p.file, "policy-file", "", "policy as JSON (fields as in the admin API); the flags below override its fields")
	fs.StringVar(&p.regions, "region", "", "allowed regions, comma-separated")
	fs.StringVar(&p.instanceTypes, "instance-types", "", "allowed instance types or patterns, comma-separated (m5.large,c6i.*)")
	fs.IntVar(&p.maxCount, "max-count", 0, "most instances per request")
	fs.IntVar(&p.maxRunning, "max-running", 0, "most instances running at once for this token")
	fs.Float64Var(&p.maxPrice, "max-price", 0, "highest spot price, $ per instance-hour")
	fs.Float64Var(&p.maxHourly, "max-hourly-spend", 0, "highest projected spend, $ per hour")
	fs.DurationVar(&p.ttl, "ttl", 0, "default instance lifetime")
	fs.DurationVar(&p.maxTTL, "max-ttl", 0, "longest instance lifetime a request may ask for")
	fs.StringVar(&p.amis, "ami", "", "allowed AMIs, comma-separated")
	fs.StringVar(&p.keyName, "key-name", "", "EC2 key pair instances get")
	fs.StringVar(&p.securityGroups, "security-groups", "", "security groups, comma-separated")
	fs.StringVar(&p.subnets, "subnets", "", "subnets, comma-separated")
	fs.StringVar(&p.tasks, "tasks", "", "allowed tasks, comma-separated: "+strings.Join(api.AllTasks(), ","))
	fs.BoolVar(&p.dryRunOnly, "dry-run-only", false, "allow dry runs only")
	fs.BoolVar(&p.onDemand, "on-demand-fallback", false, "allow on-demand when spot capacity is short")
	fs.BoolVar(&p.allowUserData, "allow-user-data", false, "let requests bring their own user data")
	fs.Var(p.tags, "tag", "tag every instance gets, key=value (repeatable)")
}

// build returns the policy, or nil when neither a file nor a flag names one
// (the server's defaults then apply).
func (p *policyFlags) build(fs *flag.FlagSet) (*api.Policy, error) {
	var pol api.Policy
	named := false
	if p.file != "" {
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, fmt.Errorf("--policy-file: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields() // a misspelt limit must not silently vanish
		if err := dec.Decode(&pol); err != nil {
			return nil, fmt.Errorf("--policy-file %s: %w", p.file, err)
		}
		named = true
	}
	setters := map[string]func(){
		"region":             func() { pol.Regions = splitList(p.regions) },
		"instance-types":     func() { pol.InstanceTypes = splitList(p.instanceTypes) },
		"max-count":          func() { pol.MaxCount = p.maxCount },
		"max-running":        func() { pol.MaxRunning = p.maxRunning },
		"max-price":          func() { pol.MaxPrice = p.maxPrice },
		"max-hourly-spend":   func() { pol.MaxHourlySpend = p.maxHourly },
		"ttl":                func() { pol.DefaultTTL = api.Duration(p.ttl) },
		"max-ttl":            func() { pol.MaxTTL = api.Duration(p.maxTTL) },
		"ami":                func() { pol.AMIs = splitList(p.amis) },
		"key-name":           func() { pol.KeyName = p.keyName },
		"security-groups":    func() { pol.SecurityGroups = splitList(p.securityGroups) },
		"subnets":            func() { pol.Subnets = splitList(p.subnets) },
		"tasks":              func() { pol.Tasks = splitList(p.tasks) },
		"dry-run-only":       func() { pol.DryRunOnly = p.dryRunOnly },
		"on-demand-fallback": func() { pol.OnDemandFallback = p.onDemand },
		"allow-user-data":    func() { pol.AllowUserData = p.allowUserData },
		"tag": func() {
			if pol.Tags == nil {
				pol.Tags = map[string]string{}
			}
			for k, v := range p.tags {
				pol.Tags[k] = v
			}
		},
	}
	fs.Visit(func(f *flag.Flag) {
		if set, ok := setters[f.Name]; ok {
			set()
			named = true
		}
	})
	if !named {
		return nil, nil
	}
	return &pol, nil
}

// sourceFlags name the files holding the providers' secrets: a secret is
// never a flag value, which shell history and the process list keep.
type sourceFlags struct {
	slack, twilio, mailgun, ifttt string
	remove                        string // rotate only
}

// maxSourceSecret bounds a secret file: they are a few dozen characters, so
// anything larger is the wrong file.
const maxSourceSecret = 4096

func (s *sourceFlags) register(fs *flag.FlagSet, rotate bool) {
	fs.StringVar(&s.slack, "slack-signing-secret-file", "", "file holding the Slack app's signing secret: /hooks/<token>/slack takes its slash commands")
	fs.StringVar(&s.twilio, "twilio-auth-token-file", "", "file holding the Twilio account's auth token: /hooks/<token>/twilio takes its SMS webhooks")
	fs.StringVar(&s.mailgun, "mailgun-signing-key-file", "", "file holding the Mailgun webhook signing key: /hooks/<token>/mailgun takes its e-mail")
	fs.StringVar(&s.ifttt, "ifttt-secret-file", "", "file holding a random secret of 32+ characters the IFTTT applet sends (openssl rand -hex 32)")
	if rotate {
		fs.StringVar(&s.remove, "remove-sources", "", "sources to stop taking webhooks from, comma-separated: slack,twilio,mailgun,ifttt")
	}
}

// build reads the named files into the request's sources; nil when no flag
// names one.
func (s *sourceFlags) build() (*api.SourcesInput, error) {
	var out api.SourcesInput
	named := false
	read := func(flagName, path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flagName, err)
		}
		if len(b) > maxSourceSecret {
			return "", fmt.Errorf("--%s: %s holds %d bytes; a secret is a single short line", flagName, path, len(b))
		}
		v := strings.TrimSpace(string(b))
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("--%s: %s must hold the secret alone, on one line", flagName, path)
		}
		return v, nil
	}
	removing := map[string]bool{}
	for _, name := range splitList(s.remove) {
		switch name {
		case "slack", "twilio", "mailgun", "ifttt":
			removing[name] = true
		default:
			return nil, usagef("--remove-sources: %q is not a source (slack, twilio, mailgun, ifttt)", name)
		}
	}
	for _, src := range []struct {
		name, flag, path string
		set              func(v string)
	}{
		{"slack", "slack-signing-secret-file", s.slack, func(v string) { out.Slack = &api.SlackSource{SigningSecret: v} }},
		{"twilio", "twilio-auth-token-file", s.twilio, func(v string) { out.Twilio = &api.TwilioSource{AuthToken: v} }},
		{"mailgun", "mailgun-signing-key-file", s.mailgun, func(v string) { out.Mailgun = &api.MailgunSource{SigningKey: v} }},
		{"ifttt", "ifttt-secret-file", s.ifttt, func(v string) { out.IFTTT = &api.IFTTTSource{Secret: v} }},
	} {
		switch {
		case src.path != "" && removing[src.name]:
			return nil, usagef("--%s and --remove-sources %s contradict each other", src.flag, src.name)
		case removing[src.name]:
			src.set("") // an empty secret removes the source
			named = true
		case src.path != "":
			v, err := read(src.flag, src.path)
			if err != nil {
				return nil, err
			}
			src.set(v)
			named = true
		}
	}
	if !named {
		return nil, nil
	}
	return &out, nil
}
