package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/logthrottle"
)

// VaultConfig configures the Vault store. Addr and one way to log in (Token,
// or RoleID with SecretID) are required; the rest have defaults.
type VaultConfig struct {
	Addr string // VAULT_ADDR
	// Addrs are more nodes of the same Vault cluster (SPOTTER_VAULT_ADDRS):
	// when the node in use does not answer, calls go on to the next.
	Addrs []string
	// CACert is a PEM file of CAs to trust for Vault's TLS certificate;
	// when empty, VAULT_CACERT and the other VAULT_* TLS settings apply.
	CACert string
	Token  string // VAULT_TOKEN; never logged
	// RoleID and SecretID log in with AppRole (VAULT_ROLE_ID, VAULT_SECRET_ID).
	// When RoleID is set, AppRole is used and Token is ignored.
	RoleID       string
	SecretID     string
	AppRoleMount string // default "approle"

	KVMount        string // KV v2 mount for records; default "spotter"
	TransitMount   string // default "transit"
	KeyName        string // derived aes256-gcm96 key that seals credentials; default "spotter-credentials"
	SigningKeyName string // ed25519 key that signs tokens; default "spotter-tokens"

	// Timeout bounds every call whose context has no earlier deadline;
	// default DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
}

// maxIdleConns is how many idle connections to Vault are kept: enough for
// every task in flight on a busy replica to reuse one.
const maxIdleConns = 128

func (c *VaultConfig) defaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.AppRoleMount, "approle")
	set(&c.KVMount, "spotter")
	set(&c.TransitMount, "transit")
	set(&c.KeyName, "spotter-credentials")
	set(&c.SigningKeyName, "spotter-tokens")
	for _, p := range []*string{&c.AppRoleMount, &c.KVMount, &c.TransitMount} {
		*p = strings.Trim(*p, "/")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Vault is the store for production and for several replicas: records in KV
// v2, sealing and token signing in Transit. Every cross-replica guarantee
// rests on KV check-and-set.
type Vault struct {
	client *api.Client
	cfg    VaultConfig
	nodes  []string   // cfg.Addr then cfg.Addrs; the client uses one at a time
	nodeMu sync.Mutex // guards node and moving the client to another
	node   int        // index in nodes of the one the client uses
	// switchLog keeps an outage's node switches to one line per node per window.
	switchLog *logthrottle.Limiter[string]
	log       *slog.Logger
	timeout   time.Duration

	stop context.CancelFunc // ends the token renewal goroutine
	wg   sync.WaitGroup
	// loginMu makes concurrent callers that find the token expired share
	// one re-login.
	loginMu sync.Mutex
}

// NewVault logs in, makes sure the mounts and keys exist (creating what is
// missing, and saying so), and starts token renewal. It fails with
// ErrUnavailable if Vault does not answer within cfg.Timeout, and with a
// message naming the path if the token lacks a permission it needs.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	nodes := nodeList(cfg.Addr, cfg.Addrs)
	ac, err := clientConfig(cfg, nodes)
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: new client: %w", err)
	}
	// NewClient picks up VAULT_TOKEN from the environment; only cfg counts.
	client.ClearToken()

	v := &Vault{client: client, cfg: cfg, nodes: nodes, switchLog: newSwitchLog(cfg.Logger), log: cfg.Logger, timeout: cfg.Timeout}
	login, err := v.login(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.ensure(ctx); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	v.stop = stop
	v.wg.Add(1)
	go v.keepAlive(runCtx, login)
	return v, nil
}

// check moves a lone Addrs list into Addr and refuses a config that names
// no address or incomplete credentials.
func (c *VaultConfig) check() error {
	if c.Addr == "" && len(c.Addrs) > 0 {
		c.Addr, c.Addrs = c.Addrs[0], c.Addrs[1:]
	}
	if strings.TrimSpace(c.Addr) == "" {
		return apperr.New(apperr.Invalid, "vault: no address (set VAULT_ADDR)")
	}
	if c.RoleID == "" && c.Token == "" {
		return apperr.New(apperr.Invalid, "vault: no credentials (set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID)")
	}
	if c.RoleID != "" && c.SecretID == "" {
		return apperr.New(apperr.Invalid, "vault: VAULT_ROLE_ID is set but VAULT_SECRET_ID is not")
	}
	return nil
}

// clientConfig builds the Vault client's config for nodes (nodes[0] first).
func clientConfig(cfg VaultConfig, nodes []string) (*api.Config, error) {
	// DefaultConfig brings TLS settings from the environment (VAULT_CACERT,
	// …), which operators expect; what decides behaviour under faults is set
	// explicitly after it so the environment cannot turn retries back up.
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("vault: client config from environment: %w", ac.Error)
	}
	if len(nodes) > 1 {
		// Switching nodes is by URL; a unix socket is one local server.
		for _, n := range nodes {
			if u, err := url.Parse(n); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, apperr.New(apperr.Invalid, "vault: node address %q: want http(s)://host:port", n)
			}
		}
	}
	ac.Address = nodes[0]
	ac.Timeout = cfg.Timeout
	if cfg.CACert != "" {
		if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert}); err != nil {
			return nil, apperr.Wrap(err, apperr.Invalid, "vault: CA certificate %s", cfg.CACert)
		}
	}
	// One quick retry rides out a leader change; more would only push a
	// fault past the caller's deadline, which is the thing we must not do.
	ac.MaxRetries = 1
	ac.MinRetryWait = 100 * time.Millisecond
	ac.MaxRetryWait = 400 * time.Millisecond
	// The pooled transport keeps GOMAXPROCS+1 idle connections per host:
	// under concurrent tasks every call past that dials Vault anew (and,
	// with TLS, handshakes), which costs more than the call itself.
	if t, ok := ac.HttpClient.Transport.(*http.Transport); ok {
		t.MaxIdleConns = maxIdleConns
		t.MaxIdleConnsPerHost = maxIdleConns
		if len(nodes) > 1 {
			// A node cut off by the network swallows SYNs; give up on it
			// soon enough that the next node can still answer in time.
			t.DialContext = (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
	}
	return ac, nil
}

// Close stops token renewal. It does not revoke the token: other replicas
// logged in with the same AppRole hold their own tokens, and a token given
// as VAULT_TOKEN belongs to the operator.
func (v *Vault) Close() error {
	if v.stop != nil {
		v.stop()
	}
	v.wg.Wait()
	v.switchLog.Flush()
	return nil
}

// Ping asks sys/health, which answers without a token and reports sealed and
// standby states, so /readyz reflects whether calls could succeed.
func (v *Vault) Ping(ctx context.Context) error {
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	var h *api.HealthResponse
	err := v.onAnyNode(ctx, func() (err error) {
		h, err = v.client.Sys().HealthWithContext(ctx)
		return err
	})
	if err != nil {
		return v.fault(err, "health check")
	}
	if h.Sealed {
		return apperr.New(apperr.Unavailable, "vault: sealed")
	}
	if !h.Initialized {
		return apperr.New(apperr.Unavailable, "vault: not initialised")
	}
	return nil
}

// deadline bounds a call by cfg.Timeout unless ctx already ends sooner.
func (v *Vault) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, v.timeout)
}

// fault turns an error from the Vault client into an *apperr.Error: no answer,
// sealed, 5xx and 403 become Unavailable (→ 503; "refused us"), anything else
// Internal. what names the operation and path, never a value.
func (v *Vault) fault(err error, what string) error {
	if err == nil {
		return nil
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		// Connection refused, DNS, TLS, or our deadline: Vault did not answer.
		return apperr.Wrap(err, apperr.Unavailable, "vault: no answer for %s", what)
	}
	switch {
	case re.StatusCode == http.StatusForbidden && containsAny(re.Errors, "invalid token"):
		return apperr.Wrap(err, apperr.Unavailable, "vault: the token is invalid or expired (%s)", what)
	case re.StatusCode == http.StatusForbidden:
		return apperr.Wrap(err, apperr.Unavailable,
			"vault: permission denied for %s: the token is invalid or expired, or its policy does not allow this path", what)
	case re.StatusCode == http.StatusServiceUnavailable:
		return apperr.Wrap(err, apperr.Unavailable, "vault: sealed or not ready (%s)", what)
	case re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests:
		return apperr.Wrap(err, apperr.Unavailable, "vault: server error %d for %s", re.StatusCode, what)
	}
	return apperr.Wrap(err, apperr.Internal, "vault: %s refused (%d): %s", what, re.StatusCode, strings.Join(re.Errors, "; "))
}

// responseErrors returns the status and messages of a Vault error reply.
func responseErrors(err error) (int, []string) {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.Errors
	}
	return 0, nil
}

func containsAny(msgs []string, sub string) bool {
	for _, m := range msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
