package app

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
	"github.com/spotter-dev/spotter/sources"
)

// Environment variable names serve reads: the standard ones first, then
// spotter's own. The CLI reads them; the errors here name them.
const (
	EnvVaultAddr       = "VAULT_ADDR"
	EnvVaultToken      = "VAULT_TOKEN"
	EnvVaultRoleID     = "VAULT_ROLE_ID"
	EnvVaultSecretID   = "VAULT_SECRET_ID"
	EnvVaultCACert     = "VAULT_CACERT"
	EnvRegion          = "AWS_REGION"
	EnvEC2Endpoint     = "AWS_ENDPOINT_URL_EC2"
	EnvSTSEndpoint     = "AWS_ENDPOINT_URL_STS"
	EnvPricingEndpoint = "AWS_ENDPOINT_URL_PRICING"
	EnvAddr            = "SPOTTER_ADDR"
	EnvDataDir         = "SPOTTER_DATA_DIR"
	EnvPublicURL       = "SPOTTER_PUBLIC_URL"
	EnvMasterKey       = "SPOTTER_MASTER_KEY"
	EnvVaultMount      = "SPOTTER_VAULT_MOUNT"
	EnvVaultAddrs      = "SPOTTER_VAULT_ADDRS"
	EnvLogFormat       = "SPOTTER_LOG_FORMAT"
	EnvAdminToken      = "SPOTTER_ADMIN_TOKEN"
	EnvTokenTTL        = "SPOTTER_TOKEN_TTL"
	EnvReaper          = "SPOTTER_REAPER_INTERVAL"
	EnvPoolInterval    = "SPOTTER_POOL_INTERVAL"
	EnvLaunchLease     = "SPOTTER_LAUNCH_LEASE"
	EnvSlackRespURLs   = "SPOTTER_SLACK_RESPONSE_URLS"
	EnvIdentityCert    = "SPOTTER_IDENTITY_CERT"
)

// Listen addresses when none is given.
const (
	DefaultAddr        = "127.0.0.1:8443"
	DefaultSandboxAddr = "127.0.0.1:8080"
)

// Config is everything serve reads, loaded once and validated before
// anything starts.
type Config struct {
	Addr      string
	DataDir   string
	TLSCert   string
	TLSKey    string
	Sandbox   bool
	PublicURL string
	LogFormat string
	LogLevel  string
	BodyLimit string

	AdminToken string
	Region     string
	// TokenTTL is the lifetime of tokens created without expiresIn; 0 is none.
	TokenTTL    time.Duration
	EC2Endpoint string
	// Identity is where spotter's own AWS identity comes from.
	Identity    AWSIdentity
	STSEndpoint string
	// PricingEndpoint is the AWS Price List API's (on-demand prices).
	PricingEndpoint string
	// SlackResponseURLs are the URL prefixes Slack results may be posted to.
	SlackResponseURLs []string
	// IdentityCert is a PEM file of the certificates that verify instance
	// identity documents (AWS's, per Region) at the bootstrap hand-off;
	// empty: the hand-off relies on DescribeInstances alone (the sandbox
	// uses its emulator's).
	IdentityCert string

	VaultAddr     string
	VaultAddrs    []string // every node of a Vault cluster, tried in turn
	VaultCACert   string   // PEM file of the CA behind Vault's certificate
	VaultToken    string
	VaultRoleID   string
	VaultSecretID string
	VaultMount    string
	MasterKey     string

	Timeouts Timeouts
	// Now is the one clock every part reads (tokens, TTLs, prices, the
	// reaper, signatures, the refusal log, the pages, the certificate, the
	// sandbox emulator); nil is time.Now.
	Now func() time.Time
	// Self is how to run spotter again, for the sandbox's examples.
	Self string
	// Version is what the listening log line reports.
	Version string
}

// Timeouts are every duration serve waits for, in one place so their
// order can be checked: a launch that waits for its instances must answer
// inside the request's own timeout.
type Timeouts struct {
	// ShutdownGrace is what in-flight requests, and then the background
	// tasks they left (Slack results), each get on SIGINT/SIGTERM.
	ShutdownGrace time.Duration
	// Request bounds each handler's context.
	Request time.Duration
	// AWSCall bounds one HTTP call to EC2, STS or the Price List API.
	AWSCall time.Duration
	// LaunchWait is how long a launch waits for its instances to run.
	LaunchWait time.Duration
	// LaunchLease is how long a launch's reservation of a token's capacity
	// holds in a shared store if its replica dies before settling it.
	LaunchLease time.Duration
	// ReaperInterval is how often the reaper passes; 0 disables it.
	ReaperInterval time.Duration
	// PoolInterval is how often the reconciler passes over the pools (and
	// a demand report starts a pass at once); a pool's lease lasts two, so
	// a replica that dies is taken over within three. 0 disables it.
	PoolInterval time.Duration
	// SourcesPoll is how often pools' CI sources are polled (Buildkite
	// metrics, Taskcluster counts, the GitHub reconcile) and their demand
	// refreshed; 0 disables it.
	SourcesPoll time.Duration
	// IdentityProbe bounds the start-up check of spotter's own AWS identity.
	IdentityProbe time.Duration
	// SandboxPoll is how often the sandbox's launches look at the emulator.
	SandboxPoll time.Duration
}

// DefaultTimeouts are serve's unless a flag or the environment says otherwise.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		ShutdownGrace:  20 * time.Second,
		Request:        server.DefaultOptions.RequestTimeout,
		AWSCall:        60 * time.Second,
		LaunchWait:     45 * time.Second,
		LaunchLease:    inflight.DefaultLease,
		ReaperInterval: time.Minute,
		PoolInterval:   10 * time.Second,
		SourcesPoll:    sources.DefaultPollInterval,
		IdentityProbe:  5 * time.Second,
		SandboxPoll:    time.Second,
	}
}

// Validate checks the settings in the order the help lists them and
// returns the first that is wrong, saying how to put it right.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.checkAddr, c.checkTLS, c.checkPublicURL, c.checkSlackURLs, c.checkBodyLimit,
		c.checkLog, c.checkVault, c.checkDurations,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) checkAddr() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port", c.Addr)
	}
	// The sandbox speaks plain HTTP and hands out an admin token: never off this machine.
	if ip := net.ParseIP(host); c.Sandbox && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--sandbox serves plain HTTP and listens on loopback only; --addr %q is not a loopback address", c.Addr)
	}
	return nil
}

func (c *Config) checkTLS() error {
	if c.Sandbox && (c.TLSCert != "" || c.TLSKey != "") {
		return fmt.Errorf("--sandbox serves plain HTTP; drop --tls-cert/--tls-key")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	return nil
}

func (c *Config) checkPublicURL() error {
	if c.PublicURL == "" {
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--public-url %q: want an absolute http(s) URL", c.PublicURL)
	}
	return nil
}

func (c *Config) checkSlackURLs() error {
	for _, p := range c.SlackResponseURLs {
		if _, err := handlers.ParseResponseURLPrefix(p); err != nil {
			return fmt.Errorf("--slack-response-urls: %w", err)
		}
	}
	return nil
}

func (c *Config) checkBodyLimit() error {
	if _, err := server.ParseBodyLimit(c.BodyLimit); err != nil {
		return fmt.Errorf("--body-limit: %w", err)
	}
	return nil
}

func (c *Config) checkLog() error {
	switch c.LogFormat {
	case "json", "text":
	default:
		return fmt.Errorf("--log-format %q: want json or text", c.LogFormat)
	}
	_, err := ParseLevel(c.LogLevel)
	return err
}

func (c *Config) checkVault() error {
	if len(c.VaultAddrs) > 0 && c.VaultAddr == "" && !c.Sandbox {
		return fmt.Errorf("%s is set but %s is not: set %s to the node to try first", EnvVaultAddrs, EnvVaultAddr, EnvVaultAddr)
	}
	for _, a := range c.VaultAddrs {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: %q is not an address: want a comma-separated list of https://host:port", EnvVaultAddrs, a)
		}
	}
	if c.VaultAddr != "" && !c.Sandbox && c.VaultToken == "" && (c.VaultRoleID == "" || c.VaultSecretID == "") {
		return fmt.Errorf("%s is set but neither %s nor %s+%s is", EnvVaultAddr, EnvVaultToken, EnvVaultRoleID, EnvVaultSecretID)
	}
	return nil
}

// checkDurations refuses a negative duration where 0 has a meaning, and
// a zero one where it would not work, then checks the timeouts' order.
func (c *Config) checkDurations() error {
	t := c.Timeouts
	for _, d := range []struct {
		name   string
		v      time.Duration
		zeroOK bool
	}{
		{name: "--shutdown-grace", v: t.ShutdownGrace, zeroOK: true},
		{name: "--token-ttl", v: c.TokenTTL, zeroOK: true},
		{name: "--reaper-interval", v: t.ReaperInterval, zeroOK: true},
		{name: "--pool-interval", v: t.PoolInterval, zeroOK: true},
		{name: "the CI sources poll interval", v: t.SourcesPoll, zeroOK: true},
		{name: "--launch-lease", v: t.LaunchLease},
		{name: "the request timeout", v: t.Request},
		{name: "the AWS call timeout", v: t.AWSCall},
		{name: "the launch wait", v: t.LaunchWait},
		{name: "the identity probe timeout", v: t.IdentityProbe},
		{name: "the sandbox poll interval", v: t.SandboxPoll},
	} {
		switch {
		case d.v < 0:
			return fmt.Errorf("%s %s: want a duration of 0 or more", d.name, d.v)
		case d.v == 0 && !d.zeroOK:
			return fmt.Errorf("%s is 0: want a duration such as 1m", d.name)
		}
	}
	if t.LaunchWait >= t.Request {
		return fmt.Errorf("the launch wait (%s) must end before the request timeout (%s), or a waiting launch is cut off unanswered", t.LaunchWait, t.Request)
	}
	if t.AWSCall > t.Request {
		return fmt.Errorf("the AWS call timeout (%s) must not outlast the request timeout (%s)", t.AWSCall, t.Request)
	}
	return nil
}

// publicURL is the base of capability URLs: the configured public URL, or
// the listen address when none is set.
func (c *Config) publicURL(scheme string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return scheme + "://" + c.Addr
}

// publicHost is the host clients use, for the certificate's SANs.
func (c *Config) publicHost() string {
	if c.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// now is the configured clock, or time.Now.
func (c *Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// DefaultDataDir is the data dir when none is named, by the XDG base
// directory spec.
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "spotter")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "spotter")
	}
	return "spotter-data"
}

// NewLogger is serve's logger: JSON or text on w at level (both validated).
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// ParseLevel reads a --log-level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
