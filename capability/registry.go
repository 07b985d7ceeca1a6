package capability

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/policy"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// Config wires a Registry.
type Config struct {
	Store     secrets.Store
	Authority *token.Authority
	Logger    *slog.Logger
	Now       func() time.Time
	// PublicURL is the base of capability URLs ("https://spotter.example.com").
	PublicURL string
	// DefaultRegion fills a policy that names none.
	DefaultRegion string
	// DefaultExpiresIn applies when a create names no expiresIn; 0 means no expiry.
	DefaultExpiresIn time.Duration
	// CacheTTL bounds how long a replica trusts a record it read: revocation
	// takes effect everywhere within it. Default 2s.
	CacheTTL time.Duration
	// Issuer names spotter in TOTP apps.
	Issuer string
	// ObserveMFA, if set, is told each MFA try's outcome (MFAOutcome*) by
	// the token's MFA type: metrics.
	ObserveMFA func(mfaType, outcome string)
}

// Registry creates, finds, revokes and rotates capability tokens.
type Registry struct {
	cfg   Config
	store secrets.Store
	auth  *token.Authority
	log   *slog.Logger
	now   func() time.Time
	totp  *token.TOTPChecker
	// throttle counts MFA tries per token in the store (mfa/<id>).
	throttle *token.Throttle

	// sharded is set once the store is known to hold no flat token keys;
	// noncesBucketed once its nonce markers are named in expiry buckets.
	sharded, noncesBucketed atomic.Bool

	mu     sync.Mutex
	cache  map[string]cached
	purged time.Time // when remember last dropped stale entries
	// index keeps every record Walk read, for the next walk (index.go).
	index tokenIndex
}

// record is a token as stored: public info plus the sealed secret part.
type record struct {
	Info
	JTI string `json:"jti"`
	// Account is AccountKey of the sealed credentials, so the reaper knows
	// which tokens share an account without opening them. Records written
	// before it was kept lack it.
	Account string `json:"account,omitempty"`
	sealed  []byte
	version int
}

// New returns a Registry.
func New(cfg Config) (*Registry, error) {
	if cfg.Store == nil || cfg.Authority == nil {
		return nil, errors.New("capability: Store and Authority are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 2 * time.Second
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "spotter"
	}
	if cfg.DefaultRegion == "" {
		cfg.DefaultRegion = "us-east-1"
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	r := &Registry{cfg: cfg, store: cfg.Store, auth: cfg.Authority, log: cfg.Logger, now: cfg.Now, cache: map[string]cached{}}
	r.totp = token.NewTOTPChecker(stepStore{cfg.Store}, cfg.Now)
	r.throttle = token.NewThrottle(ThrottleStore{Store: cfg.Store, Prefix: mfaPrefix}, cfg.Now)
	return r, nil
}

func newID() string {
	b := make([]byte, 13)
	_, _ = rand.Read(b)
	return "tok_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Create registers credentials under a new capability token. The reply holds
// the token and any secrets; nothing else ever shows them again.
func (r *Registry) Create(ctx context.Context, in api.CreateTokenRequest) (api.CreatedToken, error) {
	if err := validName(in.Name); err != nil {
		return api.CreatedToken{}, err
	}
	if err := validCredentials(in.Credentials); err != nil {
		return api.CreatedToken{}, err
	}
	if err := validMFA(in.MFA); err != nil {
		return api.CreatedToken{}, err
	}
	pol := policy.Policy{}
	if in.Policy != nil {
		pol = policy.Policy(*in.Policy)
	}
	if err := pol.Normalize(r.cfg.DefaultRegion); err != nil {
		return api.CreatedToken{}, err
	}
	ttl, err := parseExpiresIn(in.ExpiresIn, r.cfg.DefaultExpiresIn)
	if err != nil {
		return api.CreatedToken{}, err
	}

	now := r.now().UTC().Truncate(time.Second)
	id := newID()
	rec := record{Info: Info{
		ID: id, Name: in.Name, CreatedAt: now, Policy: api.Policy(pol),
		RequireSignature: in.RequireSignature,
		Credentials:      credentialRef(in.Credentials),
		MFA:              api.MFAInfo{Type: api.MFANone},
	}}
	sec := sealed{AccessKeyID: in.Credentials.AccessKeyID, SecretAccessKey: in.Credentials.SecretAccessKey, ExternalID: in.Credentials.ExternalID}
	rec.Account = AccountKey(Credentials{AccessKeyID: in.Credentials.AccessKeyID, RoleARN: in.Credentials.RoleARN})
	out := api.CreatedToken{}
	if in.MFA != nil && in.MFA.SerialNumber != "" {
		rec.MFA = api.MFAInfo{Type: api.MFAAWS, SerialNumber: in.MFA.SerialNumber}
	}
	if in.MFA != nil && in.MFA.TOTP {
		rec.MFA = api.MFAInfo{Type: api.MFATOTP}
		enr, err := r.enroll(in.Name, id)
		if err != nil {
			return api.CreatedToken{}, err
		}
		sec.TOTPSecret, out.TOTP = enr.Secret, enr
	}
	if err := applySources(in.Sources, &sec.Sources, false); err != nil {
		return api.CreatedToken{}, err
	}
	rec.Sources = sec.Sources.configured()
	if in.RequireSignature {
		s := newSecret()
		sec.SigningSecrets = []signingSecret{{Secret: s}}
		out.SigningSecret = s
	}

	tok, claims, err := r.auth.Issue(ctx, token.Capability, id, ttl)
	if err != nil {
		return api.CreatedToken{}, fmt.Errorf("issue token %s: %w", id, err)
	}
	rec.JTI = claims.JTI
	if !claims.ExpiresAt.IsZero() {
		exp := claims.ExpiresAt.UTC()
		rec.ExpiresAt = &exp
	}
	rec.KeyID = keyIDOf(tok)
	if err := r.write(ctx, &rec, sec, secrets.CreateOnly); err != nil {
		return api.CreatedToken{}, err
	}
	r.log.InfoContext(ctx, "capability token created", "token_id", id, "name", in.Name,
		"mfa", rec.MFA.Type, "require_signature", in.RequireSignature, "credentials", rec.Credentials.Type)
	out.TokenInfo = api.TokenInfo{TokenRecord: rec.Info, Status: rec.Status(r.now())}
	out.Token, out.URL = tok, r.cfg.PublicURL+"/hooks/"+tok
	return out, nil
}

func (r *Registry) enroll(name, id string) (*api.TOTPEnrolment, error) {
	secret, url, png, err := token.Enroll(r.cfg.Issuer, name+" ("+id+")")
	if err != nil {
		return nil, fmt.Errorf("enrol TOTP for %s: %w", id, err)
	}
	return &api.TOTPEnrolment{Secret: secret, OTPAuthURL: url, QRPNG: png}, nil
}

func credentialRef(c *api.CredentialsInput) api.CredentialRef {
	ref := api.CredentialRef{Type: "keys", AccessKeyID: api.MaskKey(c.AccessKeyID), RoleARN: c.RoleARN}
	if c.RoleARN != "" {
		ref.Type = "role"
	}
	return ref
}

// keyIDOf reads the kid from a token we just issued, for display.
func keyIDOf(tok string) string {
	h, _, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	b, err := base64URL(h)
	if err != nil {
		return ""
	}
	var v struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &v)
	return v.Kid
}

// write seals sec under the token id and stores rec with check-and-set.
func (r *Registry) write(ctx context.Context, rec *record, sec sealed, cas int) error {
	plain, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	sealedBytes, err := r.store.Seal(ctx, rec.ID, plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("seal secrets of %s: %w", rec.ID, err)
	}
	pub, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	v, err := r.store.Put(ctx, StoreKey(rec.ID), secrets.Record{Public: pub, Sealed: sealedBytes}, cas)
	if err != nil {
		return fmt.Errorf("store token %s: %w", rec.ID, err)
	}
	r.bumpStamps(ctx, rec.ID)
	rec.sealed, rec.version = sealedBytes, v
	r.remember(*rec)
	return nil
}

// Get returns a token's info.
func (r *Registry) Get(ctx context.Context, id string) (Info, error) {
	rec, err := r.load(ctx, id, true)
	return rec.Info, err
}

// List returns every token's info, newest first. It walks the shards (a
// LIST each) and reads the records loadWorkers at a time; it holds every
// record, so callers that can work a page at a time use ListPage.
func (r *Registry) List(ctx context.Context) ([]Info, error) {
	ids, err := r.idsAfter(ctx, "", math.MaxInt32)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := r.loadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// update applies change to the current record with check-and-set, re-reading
// and retrying when another replica wrote in between.
func (r *Registry) update(ctx context.Context, id string, change func(*record, *sealed) error) (record, error) {
	for attempt := 0; attempt < 5; attempt++ {
		rec, err := r.load(ctx, id, true)
		if err != nil {
			return record{}, err
		}
		sec, err := r.open(ctx, rec)
		if err != nil {
			return record{}, err
		}
		if err := change(&rec, &sec); err != nil {
			return record{}, err
		}
		err = r.write(ctx, &rec, sec, rec.version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return rec, err
	}
	return record{}, apperr.New(apperr.Conflict, "token %s is being changed by another request; try again", id)
}

// Revoke ends a token at once on this replica and within CacheTTL on others.
func (r *Registry) Revoke(ctx context.Context, id string) (Info, error) {
	rec, err := r.update(ctx, id, func(rec *record, _ *sealed) error {
		if rec.RevokedAt == nil {
			now := r.now().UTC()
			rec.RevokedAt = &now
		}
		return nil
	})
	if err == nil {
		r.log.InfoContext(ctx, "capability token revoked", "token_id", id)
	}
	return rec.Info, err
}

// Rotate replaces a token's credentials, signing secret or TOTP secret. The
// token and its URL stay valid.
func (r *Registry) Rotate(ctx context.Context, id string, in api.RotateTokenRequest) (api.RotatedToken, error) {
	grace, err := checkRotate(in) // validate before any write
	if err != nil {
		return api.RotatedToken{}, err
	}
	out := api.RotatedToken{}
	rec, err := r.update(ctx, id, func(rec *record, sec *sealed) error {
		if rec.RevokedAt != nil {
			return apperr.New(apperr.Conflict, "token %s is revoked; create a new one", id)
		}
		now := r.now().UTC()
		rec.RotatedAt = &now
		if c := in.Credentials; c != nil {
			sec.AccessKeyID, sec.SecretAccessKey, sec.ExternalID = c.AccessKeyID, c.SecretAccessKey, c.ExternalID
			rec.Credentials = credentialRef(c)
			rec.Account = AccountKey(Credentials{AccessKeyID: c.AccessKeyID, RoleARN: c.RoleARN})
		}
		if in.SigningSecret {
			out.SigningSecret = rotateSigningSecret(sec, now, grace)
		}
		if err := applySources(in.Sources, &sec.Sources, true); err != nil {
			return err
		}
		rec.Sources = sec.Sources.configured()
		if in.TOTP {
			enr, err := r.enroll(rec.Name, rec.ID)
			if err != nil {
				return err
			}
			rec.MFA = api.MFAInfo{Type: api.MFATOTP}
			sec.TOTPSecret, out.TOTP = enr.Secret, enr
		}
		return nil
	})
	if err != nil {
		return api.RotatedToken{}, err
	}
	r.log.InfoContext(ctx, "capability token rotated", "token_id", id,
		"credentials", in.Credentials != nil, "signing_secret", in.SigningSecret, "totp", in.TOTP, "sources", rec.Sources)
	out.TokenInfo = api.TokenInfo{TokenRecord: rec.Info, Status: rec.Status(r.now())}
	return out, nil
}

// checkRotate validates a rotate request and returns the grace the old
// signing secrets keep (an hour unless the request says otherwise).
func checkRotate(in api.RotateTokenRequest) (time.Duration, error) {
	if in.Credentials == nil && !in.SigningSecret && !in.TOTP && in.Sources == nil {
		return 0, bad("rotate", "name what to rotate: credentials, signingSecret, totp and/or sources")
	}
	if err := applySources(in.Sources, &sourceSecrets{}, true); err != nil {
		return 0, err
	}
	if in.Credentials != nil {
		if err := validCredentials(in.Credentials); err != nil {
			return 0, err
		}
	}
	if in.Grace == "" {
		return time.Hour, nil
	}
	d, err := time.ParseDuration(in.Grace)
	if err != nil || d < 0 || d > 7*24*time.Hour {
		return 0, bad("grace", "must be a duration between 0s and 168h")
	}
	return d, nil
}

// rotateSigningSecret puts a new signing secret first, gives the current
// ones until now+grace (keeping an earlier end they already have), drops
// those already ended, and returns the new secret.
func rotateSigningSecret(sec *sealed, now time.Time, grace time.Duration) string {
	until := now.Add(grace)
	kept := []signingSecret{}
	for _, s := range sec.SigningSecrets {
		if s.Until == nil {
			s.Until = &until
		}
		if s.Until.After(now) {
			kept = append(kept, s)
		}
	}
	fresh := newSecret()
	sec.SigningSecrets = append([]signingSecret{{Secret: fresh}}, kept...)
	return fresh
}

// open decrypts a record's secrets; callers drop them as soon as they can.
func (r *Registry) open(ctx context.Context, rec record) (sealed, error) {
	var sec sealed
	if len(rec.sealed) == 0 {
		return sec, nil
	}
	plain, err := r.store.Open(ctx, rec.ID, rec.sealed)
	if err != nil {
		return sec, fmt.Errorf("open secrets of %s: %w", rec.ID, err)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &sec); err != nil {
		return sec, fmt.Errorf("decode secrets of %s: %w", rec.ID, err)
	}
	return sec, nil
}
