package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pool"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/secrets"
)

// Tags a pool launch puts on its instances (spot.TagPool and friends;
// spot is not imported for three strings).
const (
	tagPool        = "spotter:pool"
	tagToken       = "spotter:token"
	tagClientToken = "spotter:client-token"
)

// launchSkew is how long before the credential's issue an instance may
// have launched: the credential is minted just before CreateFleet, but
// EC2's clock and ours differ by a little.
const launchSkew = time.Minute

// Request is an instance's hand-off call.
type Request struct {
	Credential string
	InstanceID string
	// Document and Signature are the instance identity document, byte for
	// byte as the metadata service gave it, and its base64 RSA signature.
	Document  string
	Signature string
	// Remote is the caller's address, for the audit event only.
	Remote string
}

// Grant is the one answer a credential gets per instance.
type Grant struct {
	Pool       string
	InstanceID string
	Template   string
	// Agents is the instance's job slots: its launch config's capacity.
	Agents            int
	TerminateAfterJob bool
	Labels            []string
	// Secrets are the pool-wide secrets by name; Scoped the narrower ones
	// by scope ("pipeline/<slug>", "repo/<owner>/<name>"), then name.
	Secrets map[string]string
	Scoped  map[string]map[string]string
	// Heartbeat is the instance's heartbeat credential (heartbeat.go), to
	// call POST /v1/instances/heartbeat with every HeartbeatInterval.
	Heartbeat         string
	HeartbeatInterval time.Duration
}

// refused is the one error every refusal returns: the caller learns
// nothing of which check failed (the audit event says).
func refused() error {
	return apperr.New(apperr.Unauth, "this bootstrap credential is not valid for this instance: it is unknown, used, expired, or another launch's; power the instance off and let the pool launch another")
}

// Redeem checks an instance's claim to a launch's credential and, the
// first time it holds, burns the credential for that instance and
// returns the pool's secrets. Every refusal is the same 401 and one audit
// event naming the reason.
func (s *Service) Redeem(ctx context.Context, req Request) (Grant, error) {
	g, reason, err := s.redeem(ctx, req)
	// Garbage and calls past the rate are not audited one by one: they
	// reach nothing, and the server's refusal log counts them without
	// letting a flood write a line each.
	switch {
	case reason == "malformed":
		return Grant{}, refused()
	case apperr.Code(err) == apperr.RateLimited:
		return Grant{}, err
	}
	attrs := []slog.Attr{slog.String("event", "bootstrap"), slog.String("remote", req.Remote)}
	if instanceIDRE.MatchString(req.InstanceID) {
		attrs = append(attrs, slog.String("instance_id", req.InstanceID))
	}
	if credentialRE.MatchString(req.Credential) {
		attrs = append(attrs, slog.String("credential", hashOf(req.Credential)[:12]))
	}
	if g.Pool != "" {
		attrs = append(attrs, slog.String("pool", g.Pool))
	}
	switch {
	case reason != "":
		s.audit.LogAttrs(ctx, slog.LevelWarn, "audit", append(attrs, slog.String("outcome", "refused"), slog.String("reason", reason))...)
		return Grant{}, refused()
	case err != nil:
		s.audit.LogAttrs(ctx, slog.LevelWarn, "audit", append(attrs, slog.String("outcome", "error"), slog.String("error", apperr.Code(err)))...)
		return Grant{}, err
	}
	s.audit.LogAttrs(ctx, slog.LevelInfo, "audit", append(attrs, slog.String("outcome", "granted"),
		slog.Int("secrets", len(g.Secrets)+scopedCount(g.Scoped)))...)
	return g, nil
}

func scopedCount(m map[string]map[string]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// redeem returns the grant, or a refusal reason, or an error that is not
// the caller's (the store, EC2 or a Minter did not answer): that one is
// retryable and burns nothing.
func (s *Service) redeem(ctx context.Context, req Request) (Grant, string, error) {
	if !credentialRE.MatchString(req.Credential) || !instanceIDRE.MatchString(req.InstanceID) {
		return Grant{}, "malformed", nil
	}
	ok, wait, err := s.limit.Allow(ctx, "hand-off")
	if err != nil {
		return Grant{}, "", err
	}
	if !ok {
		return Grant{}, "", &apperr.Error{Code: apperr.RateLimited, RetryAfter: wait,
			Details: "spotter takes bootstrap calls at a bounded rate, across all replicas; retry after the Retry-After seconds"}
	}
	key := CredentialPrefix + hashOf(req.Credential)
	cred, _, reason, err := s.readCredential(ctx, key, req.InstanceID)
	if reason != "" || err != nil {
		return Grant{}, reason, err
	}
	rec, reason, err := s.checkPool(ctx, cred)
	if reason != "" || err != nil {
		return Grant{Pool: cred.Pool}, reason, err
	}
	p := rec.Pool
	if reason := s.checkIdentity(req, p, cred); reason != "" {
		return Grant{Pool: p.Name}, reason, nil
	}
	in, reason, err := s.checkInstance(ctx, p, cred, req.InstanceID)
	if reason != "" || err != nil {
		return Grant{Pool: p.Name}, reason, err
	}
	vals, err := s.secretsFor(ctx, p, rec.Incarnation, req.InstanceID, agents(p, in.Type))
	if err != nil {
		return Grant{Pool: p.Name}, "", err
	}
	// Minted before the burn, like the secrets: a store that fails here
	// uses nothing up.
	hb, err := s.issueHeartbeat(ctx, p, rec.Incarnation, req.InstanceID)
	if err != nil {
		return Grant{Pool: p.Name}, "", err
	}
	if reason, err := s.burn(ctx, key, req.InstanceID); reason != "" || err != nil {
		return Grant{Pool: p.Name}, reason, err
	}
	s.bootstrapped(ctx, p.Name, req.InstanceID)
	g := newGrant(p, req.InstanceID, in.Type, vals)
	g.Heartbeat, g.HeartbeatInterval = hb, p.HeartbeatInterval()
	return g, "", nil
}

// checkPool refuses a credential whose pool is gone, deleting, created
// again, moved to another token or no longer bootstrapped.
func (s *Service) checkPool(ctx context.Context, cred credential) (pools.Record, string, error) {
	rec, err := s.pools.Get(ctx, cred.Pool)
	switch {
	case apperr.Code(err) == apperr.NotFound:
		return rec, "pool_gone", nil
	case err != nil:
		return rec, "", err
	case rec.DeletedAt != nil || rec.Incarnation != cred.Incarnation || rec.Pool.TokenID != cred.TokenID || rec.Pool.Bootstrap == "":
		return rec, "pool_changed", nil
	}
	return rec, "", nil
}

// checkInstance asks EC2 whether id is one of the launch's instances,
// alive and launched within the credential's window.
func (s *Service) checkInstance(ctx context.Context, p pool.Pool, cred credential, id string) (Instance, string, error) {
	in, found, err := s.instances.Instance(ctx, p, id)
	switch {
	case err != nil:
		return in, "", err
	case !found:
		return in, "no_instance", nil
	case in.State != "pending" && in.State != "running":
		return in, "not_running", nil
	case in.Tags[tagPool] != p.Name || in.Tags[tagToken] != p.TokenID || in.Tags[tagClientToken] != cred.ClientToken:
		return in, "wrong_tags", nil
	case in.LaunchTime.Before(cred.IssuedAt.Add(-launchSkew)) || in.LaunchTime.After(cred.ExpiresAt):
		return in, "launch_window", nil
	}
	return in, "", nil
}

// secretsFor opens the pool's secrets and adds what the Minter makes for
// this instance. Minted before the burn: a mint that fails uses nothing
// up, and only a rival call for the same instance (which loses the burn)
// wastes one.
func (s *Service) secretsFor(ctx context.Context, p pool.Pool, incarnation, id string, slots int) (map[string]string, error) {
	_, vals, _, err := s.load(ctx, p.Name, incarnation, true)
	if err != nil {
		return nil, err
	}
	if s.minter != nil {
		minted, err := s.minter.Mint(ctx, p, id, slots)
		if err != nil {
			return nil, err
		}
		for k, v := range minted {
			vals[secretKey("", k)] = v
		}
	}
	return vals, nil
}

func newGrant(p pool.Pool, id, itype string, vals map[string]string) Grant {
	g := Grant{Pool: p.Name, InstanceID: id, Template: p.Bootstrap, Agents: agents(p, itype),
		TerminateAfterJob: p.TerminateAfterJob, Labels: p.Labels, Secrets: map[string]string{}, Scoped: map[string]map[string]string{}}
	for k, v := range vals {
		scope, name, _ := strings.Cut(k, "\x00")
		if scope == "" {
			g.Secrets[name] = v
			continue
		}
		if g.Scoped[scope] == nil {
			g.Scoped[scope] = map[string]string{}
		}
		g.Scoped[scope][name] = v
	}
	return g
}

// readCredential loads a credential and refuses it if it cannot serve
// instanceID now.
func (s *Service) readCredential(ctx context.Context, key, instanceID string) (credential, int, string, error) {
	r, err := s.store.Get(ctx, key)
	if errors.Is(err, secrets.ErrNotFound) {
		return credential{}, 0, "unknown", nil
	}
	if err != nil {
		return credential{}, 0, "", err
	}
	var c credential
	if err := json.Unmarshal(r.Public, &c); err != nil {
		return credential{}, 0, "", err
	}
	switch {
	case !s.now().Before(c.ExpiresAt):
		return c, 0, "expired", nil
	case slices.ContainsFunc(c.Used, func(u use) bool { return u.InstanceID == instanceID }):
		return c, 0, "reused", nil
	case len(c.Used) >= c.MaxUses:
		return c, 0, "exhausted", nil
	}
	return c, r.Version, "", nil
}

// burn records instanceID's use with check-and-set: of two calls for the
// same instance, one writes and the other re-reads and finds it used.
func (s *Service) burn(ctx context.Context, key, instanceID string) (string, error) {
	for range 8 {
		c, version, reason, err := s.readCredential(ctx, key, instanceID)
		if reason != "" || err != nil {
			return reason, err
		}
		c.Used = append(c.Used, use{InstanceID: instanceID, At: s.now().UTC()})
		b, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		_, err = s.store.Put(ctx, key, secrets.Record{Public: b}, version)
		if errors.Is(err, secrets.ErrConflict) {
			continue
		}
		return "", err
	}
	return "", apperr.New(apperr.Conflict, "the bootstrap credential is being used by many instances at once; try again")
}

// agents is the job slots of an instance of type t: the capacity of the
// first launch config naming it (patterns included), else 1.
func agents(p pool.Pool, t string) int {
	for _, lc := range p.LaunchConfigs {
		if ok, _ := path.Match(lc.InstanceType, t); ok {
			return max(1, lc.Capacity)
		}
	}
	return 1
}
