// Package pools keeps pool definitions in the store, as capability keeps
// tokens: one record per pool at pools/<name>, changed only with
// check-and-set so replicas sharing Vault never lose each other's writes.
// A record holds the definition (package pool validates it), its
// incarnation (new per create, so a re-created pool never reuses an EC2
// ClientToken), the decision epoch, the last demand with its time, the
// instances the reconciler records, and the pool's capability: a Pool-kind
// JWT whose id (jti) alone is stored, so the URL cannot be read back from
// the store and a rotate or revoke ends the old one at once.
//
// It sits beside capability: handlers → pools → {pool, capability, token,
// secrets}.
package pools

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/casretry"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// Prefix is where pool records live in the store.
const Prefix = "pools/"

// casAttempts bounds the re-reads of one update when other writers keep
// winning the check-and-set (demand reports, pollers, webhooks and the
// reconciler all write a pool's record); with casretry's waits between
// them, one update gives up after at most 0.4 s of waiting.
const casAttempts = 12

// Tokens finds the capability token a pool runs on.
type Tokens interface {
	Get(ctx context.Context, id string) (capability.Info, error)
}

// Config wires a Registry.
type Config struct {
	Store     secrets.Store
	Authority *token.Authority
	Tokens    Tokens
	Logger    *slog.Logger
	Now       func() time.Time
	// PublicURL is the base of capability URLs ("https://spotter.example.com").
	PublicURL string
	// OnDemand, if set, is told each pool whose demand report was stored:
	// the reconciler passes over it at once instead of at its next tick.
	OnDemand func(name string)
}

// Registry creates, changes and finds pools.
type Registry struct {
	store  secrets.Store
	auth   *token.Authority
	tokens Tokens
	log    *slog.Logger
	now    func() time.Time
	public string
	// onDemand is Config.OnDemand, or a no-op.
	onDemand func(name string)
}

// New returns a Registry.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.Authority == nil || cfg.Tokens == nil {
		return nil, errors.New("pools: Store, Authority and Tokens are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnDemand == nil {
		cfg.OnDemand = func(string) {}
	}
	return &Registry{store: cfg.Store, auth: cfg.Authority, tokens: cfg.Tokens, log: cfg.Logger, now: cfg.Now,
		public: strings.TrimRight(cfg.PublicURL, "/"), onDemand: cfg.OnDemand}, nil
}

// Now is the registry's clock.
func (r *Registry) Now() time.Time { return r.now() }

// Record is a pool as stored. Nothing in it is secret: the capability is
// kept as its jti only.
type Record struct {
	// Pool is the definition as written and normalized; a maxPrice or
	// maxHourlySpend of 0 means the token's, read when it is used.
	Pool pool.Pool `json:"pool"`
	// Incarnation is new per create: the reconciler passes it to
	// pool.Decide, so a pool deleted and created again under its name
	// never sends an EC2 ClientToken of the earlier one.
	Incarnation string `json:"incarnation"`
	// Epoch is the decision epoch (pool.Input.Epoch); only the reconciler
	// moves it, after recording a launch's answer.
	Epoch     uint64    `json:"epoch"`
	CreatedAt time.Time `json:"createdAt"`
	// UpdatedAt is an operator's last change (definition, drain, delete,
	// capability); demand reports and the reconciler's writes leave it.
	UpdatedAt time.Time `json:"updatedAt"`
	// DeletedAt is set by a delete: the pool drains, takes no demand, and
	// the reconciler removes the record once no instance is left.
	DeletedAt  *time.Time    `json:"deletedAt,omitempty"`
	Capability CapabilityRef `json:"capability"`
	// Demand is the last report, At its receipt time; nil before the first.
	Demand *pool.Demand `json:"demand,omitempty"`
	// Instances are the pool's live instances as the reconciler last
	// recorded them; empty until it has run.
	Instances []pool.Instance `json:"instances"`
	// LastScaleOut and LastScaleIn are for the cooldowns (pool.Input).
	LastScaleOut time.Time `json:"lastScaleOut,omitzero"`
	LastScaleIn  time.Time `json:"lastScaleIn,omitzero"`

	version int
}

// CapabilityRef names a pool's current capability without being it.
type CapabilityRef struct {
	// JTI is the id of the only capability JWT accepted for the pool.
	JTI       string     `json:"jti"`
	KeyID     string     `json:"keyId,omitempty"`
	IssuedAt  time.Time  `json:"issuedAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// Status is "active", "draining", "paused", "deleting" or, for a pool
// whose capability is revoked but that still runs, still one of these:
// the capability has its own revokedAt.
func (r Record) Status() string {
	switch {
	case r.DeletedAt != nil:
		return "deleting"
	case r.Pool.Draining:
		return "draining"
	case r.Pool.Paused:
		return "paused"
	}
	return "active"
}

// Created is the reply to a create: the only time the capability URL is
// shown.
type Created struct {
	Record
	// Token is the pool capability; URL is <public url>/hooks/<Token>.
	Token string
	URL   string
}

var nameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// validName is pool.Validate's rule for names, checked before a key is
// built from one.
func validName(name string) bool { return len(name) <= pool.MaxNameLen && nameRe.MatchString(name) }

func notFound(name string) error {
	return apperr.New(apperr.NotFound, "no pool %q; `spotter pool list` shows them", truncate(name, 64))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func newIncarnation() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// Create checks p against its token and stores it with a new capability,
// returned once.
func (r *Registry) Create(ctx context.Context, p pool.Pool) (Created, error) {
	if err := r.check(ctx, &p); err != nil {
		return Created{}, err
	}
	now := r.now().UTC().Truncate(time.Second)
	rec := Record{Pool: p, Incarnation: newIncarnation(), CreatedAt: now, UpdatedAt: now, Instances: []pool.Instance{}}
	tok, err := r.issue(ctx, &rec)
	if err != nil {
		return Created{}, err
	}
	err = r.write(ctx, &rec, secrets.CreateOnly)
	if errors.Is(err, secrets.ErrConflict) {
		return Created{}, apperr.New(apperr.Conflict, "a pool named %q exists; change it with `spotter pool update` (PATCH) or pick another name", p.Name)
	}
	if err != nil {
		return Created{}, err
	}
	r.log.InfoContext(ctx, "pool created", "pool", p.Name, "token_id", p.TokenID, "incarnation", rec.Incarnation)
	return Created{Record: rec, Token: tok, URL: r.URL(tok)}, nil
}

// URL is a pool capability's URL.
func (r *Registry) URL(tok string) string { return r.public + "/hooks/" + tok }

// issue mints a capability for rec's pool and makes it the only one rec
// accepts.
func (r *Registry) issue(ctx context.Context, rec *Record) (string, error) {
	tok, claims, err := r.auth.Issue(ctx, token.Pool, rec.Pool.Name, 0)
	if err != nil {
		return "", fmt.Errorf("issue the capability of pool %s: %w", rec.Pool.Name, err)
	}
	rec.Capability = CapabilityRef{JTI: claims.JTI, KeyID: keyIDOf(tok), IssuedAt: claims.IssuedAt.UTC()}
	return tok, nil
}

// check normalizes p and holds it to its token: the token must exist, be
// live, need no per-request MFA code, and its policy must allow all p can
// do. p is left as written (no policy fills), so a later policy change
// applies to a pool that named no price of its own.
func (r *Registry) check(ctx context.Context, p *pool.Pool) error {
	if err := p.Normalize(); err != nil {
		return err
	}
	info, err := r.tokens.Get(ctx, p.TokenID)
	if apperr.Code(err) == apperr.NotFound {
		return apperr.New(apperr.Invalid, "tokenId: no token %s; `spotter token list` shows them", p.TokenID)
	}
	if err != nil {
		return err
	}
	if s := info.Status(r.now()); s != "active" {
		return apperr.New(apperr.Invalid, "tokenId: token %s is %s; a pool needs a live token (create one with `spotter token create`)", p.TokenID, s)
	}
	if info.MFA.Type != api.MFANone {
		return apperr.New(apperr.Invalid, "tokenId: token %s needs a per-request MFA code (mfa %s), which a pool, launching without a person, can never send; back the pool with a token without mfa and a narrow policy", p.TokenID, info.MFA.Type)
	}
	bounded := *p
	pol := policy.Policy(info.Policy)
	return bounded.WithinPolicy(&pol)
}

// write stores rec with check-and-set and keeps the new version.
func (r *Registry) write(ctx context.Context, rec *Record, cas int) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	v, err := r.store.Put(ctx, Prefix+rec.Pool.Name, secrets.Record{Public: b}, cas)
	if err != nil {
		if errors.Is(err, secrets.ErrConflict) {
			return err
		}
		return fmt.Errorf("store pool %s: %w", rec.Pool.Name, err)
	}
	rec.version = v
	return nil
}

// Get returns the stored pool.
func (r *Registry) Get(ctx context.Context, name string) (Record, error) {
	if !validName(name) {
		return Record{}, notFound(name)
	}
	sr, err := r.store.Get(ctx, Prefix+name)
	if errors.Is(err, secrets.ErrNotFound) {
		return Record{}, notFound(name)
	}
	if err != nil {
		return Record{}, fmt.Errorf("load pool %s: %w", name, err)
	}
	var rec Record
	if err := json.Unmarshal(sr.Public, &rec); err != nil {
		return Record{}, fmt.Errorf("decode pool %s: %w", name, err)
	}
	if rec.Instances == nil {
		rec.Instances = []pool.Instance{}
	}
	rec.version = sr.Version
	return rec, nil
}

// List returns every pool, deleting ones included, by name.
func (r *Registry) List(ctx context.Context) ([]Record, error) {
	keys, err := r.store.List(ctx, Prefix)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	out := make([]Record, 0, len(keys))
	for _, k := range keys {
		rec, err := r.Get(ctx, strings.TrimPrefix(k, Prefix))
		if apperr.Code(err) == apperr.NotFound {
			continue // removed between list and read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Update applies change to the current record with check-and-set,
// re-reading and retrying when another replica wrote in between; change
// must be safe to run more than once. The reconciler moves the epoch and
// records instances through it.
func (r *Registry) Update(ctx context.Context, name string, change func(*Record) error) (Record, error) {
	for attempt := range casAttempts {
		if err := casretry.Wait(ctx, attempt); err != nil {
			return Record{}, err
		}
		rec, err := r.Get(ctx, name)
		if err != nil {
			return Record{}, err
		}
		if err := change(&rec); err != nil {
			return Record{}, err
		}
		err = r.write(ctx, &rec, rec.version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return rec, err
	}
	// Nothing was written: the same request may simply be sent again.
	e := apperr.New(apperr.Unavailable, "pool %s is being changed by many requests at once; nothing was done, send the same request again", name)
	e.RetryAfter = time.Second
	return Record{}, e
}

// operatorUpdate is Update for an operator's change: it moves UpdatedAt.
func (r *Registry) operatorUpdate(ctx context.Context, name string, change func(*Record) error) (Record, error) {
	return r.Update(ctx, name, func(rec *Record) error {
		if err := change(rec); err != nil {
			return err
		}
		rec.UpdatedAt = r.now().UTC().Truncate(time.Second)
		return nil
	})
}

// keyIDOf reads the kid from a token we just issued, for display.
func keyIDOf(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var v struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Kid
}
