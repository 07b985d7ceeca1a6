package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/inflight"
	"github.com/spotter-dev/spotter/server"
)

// Environment variable names: the standard ones first, then spotter's own.
const (
	envVaultAddr       = "VAULT_ADDR"
	envVaultToken      = "VAULT_TOKEN"
	envVaultRoleID     = "VAULT_ROLE_ID"
	envVaultSecretID   = "VAULT_SECRET_ID"
	envAddr            = "SPOTTER_ADDR"
	envDataDir         = "SPOTTER_DATA_DIR"
	envPublicURL       = "SPOTTER_PUBLIC_URL"
	envMasterKey       = "SPOTTER_MASTER_KEY"
	envVaultMount      = "SPOTTER_VAULT_MOUNT"
	envVaultAddrs      = "SPOTTER_VAULT_ADDRS"
	envVaultCACert     = "VAULT_CACERT"
	envLogFormat       = "SPOTTER_LOG_FORMAT"
	envAdminToken      = "SPOTTER_ADMIN_TOKEN"
	envRegion          = "AWS_REGION"
	envTokenTTL        = "SPOTTER_TOKEN_TTL"
	envReaper          = "SPOTTER_REAPER_INTERVAL"
	envLaunchLease     = "SPOTTER_LAUNCH_LEASE"
	envEC2Endpoint     = "AWS_ENDPOINT_URL_EC2"
	envSTSEndpoint     = "AWS_ENDPOINT_URL_STS"
	envPricingEndpoint = "AWS_ENDPOINT_URL_PRICING"
	envSlackRespURLs   = "SPOTTER_SLACK_RESPONSE_URLS"
)

const (
	defaultAddr        = "127.0.0.1:8443"
	defaultSandboxAddr = "127.0.0.1:8080"
)

// serveConfig is everything `spotter serve` reads, loaded once and validated
// before anything starts.
type serveConfig struct {
	Addr          string
	DataDir       string
	TLSCert       string
	TLSKey        string
	Sandbox       bool
	PublicURL     string
	LogFormat     string
	LogLevel      string
	BodyLimit     string
	ShutdownGrace time.Duration

	AdminToken     string
	Region         string
	TokenTTL       time.Duration
	ReaperInterval time.Duration
	// LaunchLease is how long a launch's reservation of a token's capacity
	// holds in a shared store if its replica dies before settling it.
	LaunchLease time.Duration
	EC2Endpoint string
	// Identity is where spotter's own AWS identity comes from.
	Identity    awsIdentity
	STSEndpoint string
	// PricingEndpoint is the AWS Price List API's (on-demand prices).
	PricingEndpoint string
	// SlackResponseURLs are the URL prefixes Slack results may be posted to.
	SlackResponseURLs []string

	VaultAddr     string
	VaultAddrs    []string // every node of a Vault cluster, tried in turn
	VaultCACert   string   // PEM file of the CA behind Vault's certificate
	VaultToken    string
	VaultRoleID   string
	VaultSecretID string
	VaultMount    string
	MasterKey     string

	// tempDataDir is set by serve when the sandbox made its data dir: it
	// is removed on exit, so nothing in it needs keeping.
	tempDataDir bool
	// self is how to run spotter again, for the sandbox's examples.
	self string
}

func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := newFlagSet("serve", "serve [flags]",
		"Runs spotter: HTTPS with a self-signed certificate in the data dir unless --tls-cert is given,\n"+
			"Vault as the store when VAULT_ADDR is set, else the embedded store in the data dir.\n"+
			"--sandbox runs everything on loopback with the EC2/STS emulator and demo tokens.", stderr)
	fs.StringVar(&c.Addr, "addr", getenv(envAddr), "listen address (env "+envAddr+"; default "+defaultAddr+", sandbox "+defaultSandboxAddr+")")
	fs.StringVar(&c.DataDir, "data-dir", getenv(envDataDir), "directory for the self-signed certificate and the embedded store (env "+envDataDir+")")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file (with --tls-key); without, a self-signed one is made in the data dir")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file")
	fs.BoolVar(&c.Sandbox, "sandbox", false, "plain HTTP on loopback with the embedded store in a temporary data dir: for trying spotter")
	fs.StringVar(&c.PublicURL, "public-url", getenv(envPublicURL), "URL clients use to reach spotter, for capability URLs and the certificate (env "+envPublicURL+")")
	fs.StringVar(&c.LogFormat, "log-format", or(getenv(envLogFormat), "json"), "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.BodyLimit, "body-limit", "64K", "largest request body accepted: 64K is 64,000 bytes, 64KiB 65,536")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 20*time.Second, "time in-flight requests get to finish on SIGINT/SIGTERM")
	fs.StringVar(&c.Region, "region", or(getenv(envRegion), "us-east-1"), "AWS region for policies that name none (env "+envRegion+")")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 0, "default lifetime of capability tokens created without expiresIn; 0 = no expiry (env "+envTokenTTL+")")
	reaperDefault := time.Minute
	if v := getenv(envReaper); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, usagef("%s=%q: want a duration such as 1m", envReaper, v)
		}
		reaperDefault = d
	}
	fs.DurationVar(&c.ReaperInterval, "reaper-interval", reaperDefault, "how often expired instances, revoked tokens' instances and unused templates are reaped; 0 disables (env "+envReaper+")")
	leaseDefault := inflight.DefaultLease
	if v := getenv(envLaunchLease); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, usagef("%s=%q: want a duration such as 2m", envLaunchLease, v)
		}
		leaseDefault = d
	}
	fs.DurationVar(&c.LaunchLease, "launch-lease", leaseDefault, "with Vault: how long a launch's reservation of its token's capacity outlives a replica that died holding it (env "+envLaunchLease+")")
	slackURLs := fs.String("slack-response-urls", getenv(envSlackRespURLs), "comma-separated URL prefixes a Slack response_url may have; default https://hooks.slack.com/,https://hooks.slack-gov.com/ (env "+envSlackRespURLs+")")
	fs.StringVar(&c.VaultMount, "vault-mount", or(getenv(envVaultMount), "spotter"), "Vault KV v2 mount for spotter's records")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return c, err
	}
	if len(pos) > 0 {
		return c, usagef("serve: unexpected argument %q", pos[0])
	}
	c.VaultAddr, c.VaultToken = getenv(envVaultAddr), getenv(envVaultToken)
	c.VaultCACert = getenv(envVaultCACert)
	for _, a := range strings.Split(getenv(envVaultAddrs), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.VaultAddrs = append(c.VaultAddrs, a)
		}
	}
	c.VaultRoleID, c.VaultSecretID = getenv(envVaultRoleID), getenv(envVaultSecretID)
	c.MasterKey = getenv(envMasterKey)
	c.AdminToken = getenv(envAdminToken)
	c.EC2Endpoint, c.STSEndpoint = getenv(envEC2Endpoint), getenv(envSTSEndpoint)
	c.PricingEndpoint = getenv(envPricingEndpoint)
	if c.PricingEndpoint == "" && isLoopbackURL(c.EC2Endpoint) {
		// An emulator on this machine (spotter sim, moto) answers every
		// service on one port; without this, a test or demo that points EC2
		// at it would still ask real AWS for prices.
		c.PricingEndpoint = c.EC2Endpoint
	}
	c.Identity = readAWSIdentity(getenv)
	for _, p := range strings.Split(*slackURLs, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.SlackResponseURLs = append(c.SlackResponseURLs, p)
		}
	}
	if v := getenv(envTokenTTL); v != "" && c.TokenTTL == 0 {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, usagef("%s=%q: want a duration such as 720h", envTokenTTL, v)
		}
		c.TokenTTL = d
	}

	if c.Addr == "" {
		c.Addr = defaultAddr
		if c.Sandbox {
			c.Addr = defaultSandboxAddr
		}
	}
	if err := c.validate(); err != nil {
		return c, &usageError{err: err}
	}
	return c, nil
}

func (c *serveConfig) validate() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port", c.Addr)
	}
	if c.Sandbox {
		// The sandbox speaks plain HTTP and hands out an admin token: never off this machine.
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--sandbox serves plain HTTP and listens on loopback only; --addr %q is not a loopback address", c.Addr)
		}
		if c.TLSCert != "" || c.TLSKey != "" {
			return fmt.Errorf("--sandbox serves plain HTTP; drop --tls-cert/--tls-key")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--public-url %q: want an absolute http(s) URL", c.PublicURL)
		}
	}
	for _, p := range c.SlackResponseURLs {
		if _, err := handlers.ParseResponseURLPrefix(p); err != nil {
			return fmt.Errorf("--slack-response-urls: %w", err)
		}
	}
	if _, err := server.ParseBodyLimit(c.BodyLimit); err != nil {
		return fmt.Errorf("--body-limit: %w", err)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return fmt.Errorf("--log-format %q: want json or text", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if len(c.VaultAddrs) > 0 && c.VaultAddr == "" && !c.Sandbox {
		return fmt.Errorf("%s is set but %s is not: set %s to the node to try first", envVaultAddrs, envVaultAddr, envVaultAddr)
	}
	for _, a := range c.VaultAddrs {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: %q is not an address: want a comma-separated list of https://host:port", envVaultAddrs, a)
		}
	}
	if c.VaultAddr != "" && !c.Sandbox && c.VaultToken == "" && (c.VaultRoleID == "" || c.VaultSecretID == "") {
		return fmt.Errorf("%s is set but neither %s nor %s+%s is", envVaultAddr, envVaultToken, envVaultRoleID, envVaultSecretID)
	}
	return nil
}

// publicURL is the base of capability URLs: the configured public URL, or
// the listen address when none is set.
func (c *serveConfig) publicURL(scheme string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return scheme + "://" + c.Addr
}

// publicHost is the host clients use, for the certificate's SANs.
func (c *serveConfig) publicHost() string {
	if c.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// defaultDataDir follows the XDG base directory spec.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "spotter")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "spotter")
	}
	return "spotter-data"
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
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
