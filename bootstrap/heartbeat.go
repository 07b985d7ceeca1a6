package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/internal/logthrottle"
	"github.com/spotter-dev/spotter/liveness"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/secrets"
)

// HeartbeatPrefix holds one record per heartbeat credential, keyed by its
// SHA-256: the credential itself is only in the instance's one grant.
const HeartbeatPrefix = "heartbeat/"

// Heartbeat rate on each replica (a thousand instances beating every
// 20 s are 50 a second), and how often a refusal of one kind from one
// address is audited (the rest are counted in one summary line).
const (
	DefaultHeartbeatRate  = 200
	DefaultHeartbeatBurst = 1000
	heartbeatAuditEvery   = time.Minute
)

var heartbeatRE = regexp.MustCompile(`^sph_[a-z2-7]{52}$`)

// heartbeatCred is a stored heartbeat credential: good for one instance
// of one incarnation of a pool, until the pool's maxLifetime has passed.
type heartbeatCred struct {
	Pool        string    `json:"pool"`
	Incarnation string    `json:"incarnation"`
	InstanceID  string    `json:"instanceId"`
	IssuedAt    time.Time `json:"issuedAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// heartbeats is the Service's heartbeat side.
type heartbeats struct {
	live  *liveness.Store
	limit *rate.Limiter
	audit *logthrottle.Limiter[hbRefusal]
}

type hbRefusal struct{ reason, remote string }

func newHeartbeats(cfg Config) *heartbeats {
	audit := cfg.Audit
	return &heartbeats{live: liveness.New(cfg.Store), limit: rate.NewLimiter(DefaultHeartbeatRate, DefaultHeartbeatBurst),
		audit: &logthrottle.Limiter[hbRefusal]{Every: heartbeatAuditEvery, Now: cfg.Now, Emit: func(s logthrottle.Summary[hbRefusal]) {
			audit.LogAttrs(context.Background(), slog.LevelWarn, "audit", slog.String("event", "heartbeat"), slog.String("outcome", "refused"),
				slog.String("reason", s.Key.reason), slog.String("remote", s.Key.remote), slog.Int("suppressed", s.Suppressed), slog.Bool("overflow", s.Overflow))
		}}}
}

// HeartbeatRequest is an instance's heartbeat.
type HeartbeatRequest struct {
	Credential string
	InstanceID string
	// State is "busy", "idle" or "" (the instance does not say).
	State  string
	Remote string // for the audit only
}

// heartbeatRefused is the one error every refused heartbeat returns.
func heartbeatRefused() error {
	return apperr.New(apperr.Unauth, "this heartbeat credential is not valid for this instance: it is unknown, expired, another instance's, or its pool is gone; the instance should power off")
}

// issueHeartbeat mints an instance's heartbeat credential at its
// hand-off and stores its hash.
func (s *Service) issueHeartbeat(ctx context.Context, p pool.Pool, incarnation, id string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	cred := "sph_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	now := s.now().UTC()
	b, err := json.Marshal(heartbeatCred{Pool: p.Name, Incarnation: incarnation, InstanceID: id, IssuedAt: now,
		ExpiresAt: now.Add(time.Duration(p.MaxLifetime))})
	if err != nil {
		return "", err
	}
	if _, err := s.store.Put(ctx, HeartbeatPrefix+hashOf(cred), secrets.Record{Public: b}, secrets.CreateOnly); err != nil {
		return "", err
	}
	return cred, nil
}

// bootstrapped records the hand-off as the instance's first sign of life.
// A failure is logged, not returned: the grant is made, and the first
// heartbeat writes the record (its credential proves the hand-off).
func (s *Service) bootstrapped(ctx context.Context, poolName, id string) {
	now := s.now().UTC()
	err := s.hb.live.Update(ctx, poolName, id, func(r *liveness.Record) bool {
		r.BootstrappedAt, r.LastSeen = now, now
		return true
	})
	if err != nil {
		s.log.WarnContext(ctx, "liveness record not written at the hand-off", "pool", poolName, "instance_id", id, "error", err)
	}
}

// Heartbeat records that an instance is alive (and busy or idle, if it
// says) and returns the interval it should beat at. Every refusal is the
// same 401 and an audit line (throttled per reason and address).
func (s *Service) Heartbeat(ctx context.Context, req HeartbeatRequest) (time.Duration, error) {
	if req.State != "" && req.State != liveness.StateBusy && req.State != liveness.StateIdle {
		s.RefuseHeartbeat(ctx, req.Remote, "bad_state")
		return 0, apperr.New(apperr.Invalid, "state: must be busy or idle; leave it out if the instance cannot tell")
	}
	p, reason, err := s.heartbeat(ctx, req)
	switch {
	case reason != "":
		s.RefuseHeartbeat(ctx, req.Remote, reason)
		return 0, heartbeatRefused()
	case err != nil:
		return 0, err
	}
	return p.HeartbeatInterval(), nil
}

// RefuseHeartbeat audits a refused heartbeat the Service did not see (a
// body that did not parse, or was too big).
func (s *Service) RefuseHeartbeat(ctx context.Context, remote, reason string) {
	if s.hb.audit.Allow(hbRefusal{reason: reason, remote: remote}) {
		s.audit.LogAttrs(ctx, slog.LevelWarn, "audit", slog.String("event", "heartbeat"), slog.String("outcome", "refused"),
			slog.String("reason", reason), slog.String("remote", remote))
	}
}

func (s *Service) heartbeat(ctx context.Context, req HeartbeatRequest) (pool.Pool, string, error) {
	if !heartbeatRE.MatchString(req.Credential) || !instanceIDRE.MatchString(req.InstanceID) {
		return pool.Pool{}, "malformed", nil
	}
	if r := s.hb.limit.ReserveN(s.now(), 1); !r.OK() || r.DelayFrom(s.now()) > 0 {
		wait := r.DelayFrom(s.now())
		r.CancelAt(s.now())
		return pool.Pool{}, "", &apperr.Error{Code: apperr.RateLimited, RetryAfter: max(wait, time.Second),
			Details: "spotter takes heartbeats at a bounded rate on each replica; the next beat will do"}
	}
	got, err := s.store.Get(ctx, HeartbeatPrefix+hashOf(req.Credential))
	if errors.Is(err, secrets.ErrNotFound) {
		return pool.Pool{}, "unknown", nil
	}
	if err != nil {
		return pool.Pool{}, "", err
	}
	var c heartbeatCred
	if err := json.Unmarshal(got.Public, &c); err != nil {
		return pool.Pool{}, "", err
	}
	now := s.now().UTC()
	switch {
	case !now.Before(c.ExpiresAt):
		return pool.Pool{}, "expired", nil
	case c.InstanceID != req.InstanceID:
		return pool.Pool{}, "other_instance", nil
	}
	rec, err := s.pools.Get(ctx, c.Pool)
	switch {
	case apperr.Code(err) == apperr.NotFound:
		return pool.Pool{}, "pool_gone", nil
	case err != nil:
		return pool.Pool{}, "", err
	case rec.DeletedAt != nil || rec.Incarnation != c.Incarnation:
		return pool.Pool{}, "pool_changed", nil
	}
	p := rec.Pool
	// A beat within half an interval of the last one written changes
	// nothing the reconciler reads: it is taken, not written.
	half := p.HeartbeatInterval() / 2
	err = s.hb.live.Update(ctx, p.Name, req.InstanceID, func(r *liveness.Record) bool {
		if now.Sub(r.LastSeen) < half && req.State == r.State && !r.BootstrappedAt.IsZero() {
			return false
		}
		if r.BootstrappedAt.IsZero() {
			r.BootstrappedAt = c.IssuedAt
		}
		r.LastSeen, r.State = now, req.State
		return true
	})
	return p, "", err
}

// Liveness is what a pool's instances last told spotter, by instance id:
// when each bootstrapped, when it was last heard from, and the busy/idle
// state its last heartbeat reported.
func (s *Service) Liveness(ctx context.Context, poolName string) (map[string]liveness.Record, error) {
	return s.hb.live.List(ctx, poolName)
}

// SweepHeartbeats deletes heartbeat credentials past their expiry.
func (s *Service) SweepHeartbeats(ctx context.Context) (int, error) {
	keys, err := s.store.List(ctx, HeartbeatPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		r, err := s.store.Get(ctx, k)
		if err != nil {
			continue
		}
		var c heartbeatCred
		if json.Unmarshal(r.Public, &c) == nil && !s.now().Before(c.ExpiresAt) && s.store.Delete(ctx, k) == nil {
			n++
		}
	}
	return n, nil
}
