package cli

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/app"
)

// runServe is `spotter serve`: the flags and environment become an
// app.Config, and app.New wires it.
func runServe(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Self = selfCommand(os.Args[0])
	log := app.NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	a, err := app.New(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	err = a.Run(ctx, nil)
	if cerr := a.Close(); cerr != nil {
		// Requests were answered; what failed to close is worth a line, not an exit status.
		log.Warn("shutdown: closing", "error", cerr)
	}
	return err
}

func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (app.Config, error) {
	c := app.Config{Timeouts: app.DefaultTimeouts(), Version: buildVersion()}
	t := &c.Timeouts
	fs := newFlagSet("serve", "serve [flags]",
		"Runs spotter: HTTPS with a self-signed certificate in the data dir unless --tls-cert is given,\n"+
			"Vault as the store when VAULT_ADDR is set, else the embedded store in the data dir.\n"+
			"--sandbox runs everything on loopback with the EC2/STS emulator and demo tokens.", stderr)
	fs.StringVar(&c.Addr, "addr", getenv(app.EnvAddr), "listen address (env "+app.EnvAddr+"; default "+app.DefaultAddr+", sandbox "+app.DefaultSandboxAddr+")")
	fs.StringVar(&c.DataDir, "data-dir", getenv(app.EnvDataDir), "directory for the self-signed certificate and the embedded store (env "+app.EnvDataDir+")")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file (with --tls-key); without, a self-signed one is made in the data dir")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file")
	fs.BoolVar(&c.Sandbox, "sandbox", false, "plain HTTP on loopback with the embedded store in a temporary data dir: for trying spotter")
	fs.StringVar(&c.PublicURL, "public-url", getenv(app.EnvPublicURL), "URL clients use to reach spotter, for capability URLs and the certificate (env "+app.EnvPublicURL+")")
	fs.StringVar(&c.LogFormat, "log-format", cmp.Or(getenv(app.EnvLogFormat), "json"), "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.BodyLimit, "body-limit", "64K", "largest request body accepted: 64K is 64,000 bytes, 64KiB 65,536")
	fs.DurationVar(&t.ShutdownGrace, "shutdown-grace", t.ShutdownGrace, "time in-flight requests get to finish on SIGINT/SIGTERM")
	fs.StringVar(&c.Region, "region", cmp.Or(getenv(app.EnvRegion), "us-east-1"), "AWS region for policies that name none (env "+app.EnvRegion+")")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 0, "default lifetime of capability tokens created without expiresIn; 0 = no expiry (env "+app.EnvTokenTTL+")")
	if err := envDuration(getenv, app.EnvReaper, "1m", true, &t.ReaperInterval); err != nil {
		return c, err
	}
	fs.DurationVar(&t.ReaperInterval, "reaper-interval", t.ReaperInterval, "how often expired instances, revoked tokens' instances and unused templates are reaped; 0 disables (env "+app.EnvReaper+")")
	if err := envDuration(getenv, app.EnvPoolInterval, "10s", true, &t.PoolInterval); err != nil {
		return c, err
	}
	fs.DurationVar(&t.PoolInterval, "pool-interval", t.PoolInterval, "how often pools are reconciled to their demand (a demand report reconciles at once); 0 disables (env "+app.EnvPoolInterval+")")
	if err := envDuration(getenv, app.EnvLaunchLease, "2m", false, &t.LaunchLease); err != nil {
		return c, err
	}
	fs.DurationVar(&t.LaunchLease, "launch-lease", t.LaunchLease, "with Vault: how long a launch's reservation of its token's capacity outlives a replica that died holding it (env "+app.EnvLaunchLease+")")
	slackURLs := fs.String("slack-response-urls", getenv(app.EnvSlackRespURLs), "comma-separated URL prefixes a Slack response_url may have; default https://hooks.slack.com/,https://hooks.slack-gov.com/ (env "+app.EnvSlackRespURLs+")")
	fs.StringVar(&c.IdentityCert, "identity-cert", getenv(app.EnvIdentityCert), "PEM file of the AWS certificates that verify instance identity documents at the pool bootstrap hand-off (env "+app.EnvIdentityCert+")")
	fs.StringVar(&c.VaultMount, "vault-mount", cmp.Or(getenv(app.EnvVaultMount), "spotter"), "Vault KV v2 mount for spotter's records")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, usagef("serve: unexpected argument %q", pos[0])
	}
	readServeEnv(&c, getenv)
	c.SlackResponseURLs = splitList(*slackURLs)
	if c.TokenTTL == 0 {
		if err := envDuration(getenv, app.EnvTokenTTL, "720h", true, &c.TokenTTL); err != nil {
			return c, err
		}
	}
	if c.Addr == "" {
		c.Addr = app.DefaultAddr
		if c.Sandbox {
			c.Addr = app.DefaultSandboxAddr
		}
	}
	if c.DataDir == "" && !c.Sandbox {
		c.DataDir = app.DefaultDataDir(getenv)
	}
	if err := c.Validate(); err != nil {
		return c, &usageError{err: err}
	}
	return c, nil
}

// readServeEnv reads the settings that come only from the environment:
// Vault's, the master key, the admin token, AWS endpoints and identity.
func readServeEnv(c *app.Config, getenv func(string) string) {
	c.VaultAddr, c.VaultToken = getenv(app.EnvVaultAddr), getenv(app.EnvVaultToken)
	c.VaultCACert = getenv(app.EnvVaultCACert)
	c.VaultAddrs = splitList(getenv(app.EnvVaultAddrs))
	c.VaultRoleID, c.VaultSecretID = getenv(app.EnvVaultRoleID), getenv(app.EnvVaultSecretID)
	c.MasterKey = getenv(app.EnvMasterKey)
	c.AdminToken = getenv(app.EnvAdminToken)
	c.EC2Endpoint, c.STSEndpoint = getenv(app.EnvEC2Endpoint), getenv(app.EnvSTSEndpoint)
	c.PricingEndpoint = getenv(app.EnvPricingEndpoint)
	if c.PricingEndpoint == "" && isLoopbackURL(c.EC2Endpoint) {
		// An emulator on this machine (spotter sim, moto) answers every
		// service on one port; without this, a test or demo that points EC2
		// at it would still ask real AWS for prices.
		c.PricingEndpoint = c.EC2Endpoint
	}
	c.Identity = app.ReadAWSIdentity(getenv)
}

// envDuration sets *d from the environment variable name when it is set;
// example is what the error shows, zeroOK whether 0 is allowed.
func envDuration(getenv func(string) string, name, example string, zeroOK bool, d *time.Duration) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	parsed, err := time.ParseDuration(v)
	if err != nil || parsed < 0 || (parsed == 0 && !zeroOK) {
		return usagef("%s=%q: want a duration such as %s", name, v, example)
	}
	*d = parsed
	return nil
}

// isLoopbackURL reports whether raw is a URL whose host is this machine.
func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// selfCommand is how the person who started spotter runs it again: a
// binary under go run's build cache is gone on exit, so that is "go run .".
func selfCommand(argv0 string) string {
	switch {
	case strings.Contains(argv0, "go-build"):
		return "go run ."
	case strings.Contains(argv0, "/") && !filepath.IsAbs(argv0):
		return argv0
	}
	return "spotter"
}
