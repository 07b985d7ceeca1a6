// Package bootstrap is the instance side of a pool (issue 13): the pool's
// secrets, sealed in the store and never shown again; the one-use
// credential each pool launch's user data carries instead of them; and
// the hand-off, where an instance trades that credential, once, for the
// secrets after spotter has checked with EC2 that it is one of the
// launch's instances, launched within the pool's bootTimeout.
//
// It knows no HTTP: handlers adapt it. It sits beside pools:
// handlers → bootstrap → {pools, pool, secrets, capability, spot}.
package bootstrap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/ratelimit"
	"github.com/spotter-dev/spotter/secrets"
)

// Store prefixes: one record per credential (keyed by its hash) and one
// per pool's secrets.
const (
	CredentialPrefix = "bootstrap/"
	SecretsPrefix    = "poolsecrets/"
)

// credentialRE is the form Issue mints: spb_ and 52 base32 characters
// (32 random bytes). Anything else is refused before the store is read.
var credentialRE = regexp.MustCompile(`^spb_[a-z2-7]{52}$`)

var instanceIDRE = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// Pools finds a pool's record.
type Pools interface {
	Get(ctx context.Context, name string) (pools.Record, error)
}

// Instance is what EC2 says about the instance presenting a credential.
type Instance struct {
	ID         string
	Type       string
	State      string
	LaunchTime time.Time
	Tags       map[string]string
}

// Instances looks one instance up with the pool's token's credentials
// (DescribeInstances). found is false when EC2 does not know it (or it is
// not the token's).
type Instances interface {
	Instance(ctx context.Context, p pool.Pool, id string) (in Instance, found bool, err error)
}

// Minter makes secrets at the moment of the hand-off, for one instance
// with agents job slots: GitHub just-in-time runner configs
// (generate-jitconfig, named after the instance), a short-lived
// registration token. What it returns is added to
// the pool-wide secrets of that instance's one answer and stored nowhere.
// A failure uses up nothing: the instance's retry mints again. Its
// apperr code reaches the instance (a 5xx, or 429 with Retry-After for a
// provider's rate limit). sources.Minter is GitHub's.
type Minter interface {
	Mint(ctx context.Context, p pool.Pool, instanceID string, agents int) (map[string]string, error)
}

// Config wires a Service.
type Config struct {
	Store     secrets.Store
	Pools     Pools
	Instances Instances
	// Minter, if set, adds per-instance secrets at the hand-off.
	Minter Minter
	// IdentityCerts verify the signed instance identity document (RSA
	// SHA-256 over the document, EC2's /signature). With none, spotter
	// relies on DescribeInstances alone and asks for no document.
	IdentityCerts []*x509.Certificate
	// PublicURL is what instances call ("https://spotter.example.com").
	PublicURL string
	// ServerCA is a PEM certificate the instances trust for PublicURL
	// (spotter's self-signed one; public, so user data may carry it);
	// nil: the system's roots.
	ServerCA []byte
	Logger   *slog.Logger
	// Audit gets one event per hand-off, granted or refused.
	Audit *slog.Logger
	// Rate and Burst bound the hand-off calls that reach the store, across
	// every replica sharing Store (defaults 50/s, bursts of 500: a thousand
	// instances booting at once, well-formed guesses flooding in). Past
	// them: 429 with Retry-After, which the templates' curl retries.
	Rate  rate.Limit
	Burst int
	Now   func() time.Time
}

// Defaults of Config.Rate and Config.Burst.
const (
	DefaultRate  = 50
	DefaultBurst = 500
)

// Service issues credentials, keeps pool secrets and makes the hand-off.
type Service struct {
	store     secrets.Store
	pools     Pools
	instances Instances
	minter    Minter
	limit     *ratelimit.Limiter
	certs     []*x509.Certificate
	public    string
	serverCA  string
	log       *slog.Logger
	audit     *slog.Logger
	now       func() time.Time
	hb        *heartbeats // heartbeat.go
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Pools == nil || cfg.Instances == nil {
		return nil, errors.New("bootstrap: Store, Pools and Instances are required")
	}
	if cfg.PublicURL == "" {
		return nil, errors.New("bootstrap: PublicURL is required: instances call it")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = cfg.Logger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rate == 0 {
		cfg.Rate, cfg.Burst = DefaultRate, DefaultBurst
	}
	lim := ratelimit.Limit{PerSecond: float64(cfg.Rate), Burst: cfg.Burst}
	s := &Service{limit: ratelimit.New(cfg.Store, "bootstrap", lim, cfg.Now), store: cfg.Store, pools: cfg.Pools, instances: cfg.Instances, minter: cfg.Minter, certs: cfg.IdentityCerts,
		public: strings.TrimRight(cfg.PublicURL, "/"), serverCA: strings.TrimSpace(string(cfg.ServerCA)), log: cfg.Logger, audit: cfg.Audit, now: cfg.Now}
	s.hb = newHeartbeats(cfg)
	return s, nil
}

// Launch names one pool launch: its EC2 ClientToken (every instance it
// starts carries it as spotter:client-token) and its capacity in units,
// which bounds how many instances it can start.
type Launch struct {
	ClientToken string
	Capacity    int
}

// credential is a stored credential: its hash is the key, so the
// credential itself is nowhere but in the launch's user data.
type credential struct {
	Pool        string    `json:"pool"`
	Incarnation string    `json:"incarnation"`
	TokenID     string    `json:"tokenId"`
	ClientToken string    `json:"clientToken"`
	IssuedAt    time.Time `json:"issuedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
	// MaxUses is the launch's capacity: an instance is at least one unit.
	MaxUses int   `json:"maxUses"`
	Used    []use `json:"used"`
}

type use struct {
	InstanceID string    `json:"instanceId"`
	At         time.Time `json:"at"`
}

func hashOf(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:])
}

// Issue mints the credential of one launch of p and returns the user data
// the launch carries: p's template with only the credential and spotter's
// URL filled in. A pool without a template gets its own user data back
// (decoded) and no credential. Every instance of the launch carries the
// same user data, so the credential is good once per instance of the
// launch, for at most l.Capacity instances, until bootTimeout has passed.
func (s *Service) Issue(ctx context.Context, p pool.Pool, l Launch) ([]byte, error) {
	if p.Bootstrap == "" {
		if p.UserData == "" {
			return nil, nil
		}
		ud, err := base64.StdEncoding.DecodeString(p.UserData)
		if err != nil {
			return nil, apperr.New(apperr.Invalid, "userData: must be base64")
		}
		return ud, nil
	}
	if l.ClientToken == "" || l.Capacity < 1 {
		return nil, errors.New("bootstrap: Issue needs the launch's ClientToken and capacity")
	}
	// The credential is bound to this incarnation of the pool: one
	// deleted and created again under its name refuses it.
	pr, err := s.pools.Get(ctx, p.Name)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	cred := "spb_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	now := s.now().UTC()
	rec := credential{Pool: p.Name, Incarnation: pr.Incarnation, TokenID: p.TokenID, ClientToken: l.ClientToken, IssuedAt: now,
		ExpiresAt: now.Add(time.Duration(p.BootTimeout)), MaxUses: l.Capacity, Used: []use{}}
	ud, err := render(p, s.public, s.serverCA, cred)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.Put(ctx, CredentialPrefix+hashOf(cred), secrets.Record{Public: b}, secrets.CreateOnly); err != nil {
		return nil, fmt.Errorf("store the bootstrap credential of pool %s: %w", p.Name, err)
	}
	s.log.InfoContext(ctx, "bootstrap credential issued", "pool", p.Name, "client_token", l.ClientToken,
		"expires_at", rec.ExpiresAt.Format(time.RFC3339), "credential", hashOf(cred)[:12])
	return ud, nil
}

// Sweep deletes credentials past their expiry, and the secrets of pools
// that are gone, and returns how many records it deleted: a late call is
// refused by the expiry itself, so this only keeps the store small.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	keys, err := s.store.List(ctx, CredentialPrefix)
	if err != nil {
		return 0, err
	}
	n := s.sweepSecrets(ctx)
	for _, k := range keys {
		r, err := s.store.Get(ctx, k)
		if err != nil {
			continue
		}
		var c credential
		if json.Unmarshal(r.Public, &c) == nil && s.now().After(c.ExpiresAt) {
			if s.store.Delete(ctx, k) == nil {
				n++
			}
		}
	}
	return n, nil
}
