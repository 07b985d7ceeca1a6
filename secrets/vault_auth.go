package secrets

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/apperr"
)

// AppRole login is a plain write to auth/<mount>/login: the api/auth/approle
// submodule is not in go.mod, and the write is all it does for a plain
// secret id.

// login authenticates the client and returns a secret describing the token
// for renewal (nil when there is nothing to renew). Only the accessor is ever
// logged: it identifies the token in Vault's audit log without granting
// anything.
func (v *Vault) login(ctx context.Context) (*api.Secret, error) {
	if v.cfg.RoleID != "" {
		return v.loginAppRole(ctx)
	}
	v.client.SetToken(v.cfg.Token)
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	var self *api.Secret
	err := v.onAnyNode(ctx, func() (err error) {
		self, err = v.client.Auth().Token().LookupSelfWithContext(ctx)
		return err
	})
	if err != nil {
		status, msgs := responseErrors(err)
		if status == 403 && containsAny(msgs, "invalid token") {
			return nil, apperr.Wrap(err, apperr.Unavailable, "vault: VAULT_TOKEN is invalid or expired")
		}
		if status != 403 {
			return nil, v.fault(err, "auth/token/lookup-self")
		}
		// A valid token whose policies leave out the default policy cannot
		// look itself up; that costs us only renewal, so carry on.
		v.log.Warn("vault token may not read auth/token/lookup-self (the default policy grants it); token renewal is off",
			"addr", v.cfg.Addr)
		return nil, nil
	}
	accessor, _ := self.Data["accessor"].(string)
	renewable, _ := self.Data["renewable"].(bool)
	ttl := int64(0)
	if n, ok := self.Data["ttl"].(json.Number); ok {
		ttl, _ = n.Int64()
	}
	v.log.Info("logged in to vault with a token", "addr", v.cfg.Addr, "accessor", accessor,
		"renewable", renewable, "ttl", time.Duration(ttl)*time.Second)
	if !renewable || ttl <= 0 {
		return nil, nil
	}
	// The watcher needs the token in Auth form to renew it as a token.
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken: v.cfg.Token, Accessor: accessor, Renewable: true, LeaseDuration: int(ttl),
	}}, nil
}

func (v *Vault) loginAppRole(ctx context.Context) (*api.Secret, error) {
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := "auth/" + v.cfg.AppRoleMount + "/login"
	var s *api.Secret
	err := v.onAnyNode(ctx, func() error {
		// Log in on a clone without a token: a stale token on the main
		// client must not ride along with the login request. Cloned per
		// try, so it goes to the node the client uses now.
		c, err := v.client.Clone()
		if err != nil {
			return err
		}
		c.ClearToken()
		s, err = c.Logical().WriteWithContext(ctx, path, map[string]any{
			"role_id": v.cfg.RoleID, "secret_id": v.cfg.SecretID,
		})
		return err
	})
	if err != nil {
		if status, msgs := responseErrors(err); status == 400 || status == 403 {
			return nil, apperr.Wrap(err, apperr.Unavailable, "vault: AppRole login at %s refused (check VAULT_ROLE_ID and VAULT_SECRET_ID): %v", path, msgs)
		}
		return nil, v.fault(err, path)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, apperr.New(apperr.Unavailable, "vault: AppRole login at %s returned no token", path)
	}
	v.client.SetToken(s.Auth.ClientToken)
	v.log.Info("logged in to vault with AppRole", "addr", v.cfg.Addr, "mount", v.cfg.AppRoleMount,
		"accessor", s.Auth.Accessor, "renewable", s.Auth.Renewable,
		"ttl", time.Duration(s.Auth.LeaseDuration)*time.Second)
	return s, nil
}

// keepAlive renews the token while it can and, for AppRole, logs in again
// when renewal ends (max TTL reached, token revoked). It runs until Close.
func (v *Vault) keepAlive(ctx context.Context, secret *api.Secret) {
	defer v.wg.Done()
	for ctx.Err() == nil {
		switch {
		case secret == nil || secret.Auth == nil || secret.Auth.LeaseDuration <= 0:
			return // a token that never expires needs nothing
		case secret.Auth.Renewable:
			v.watch(ctx, secret)
		default:
			// Not renewable but expiring: log in again at two thirds of its life.
			wait := time.Duration(secret.Auth.LeaseDuration) * time.Second * 2 / 3
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			return
		}
		if v.cfg.RoleID == "" {
			v.log.Warn("vault token can no longer be renewed; calls will fail once it expires (use AppRole, or a periodic token)",
				"accessor", secret.Auth.Accessor)
			return
		}
		secret = v.relogin(ctx)
	}
}

// watch renews secret's token until the watcher gives up or ctx ends.
func (v *Vault) watch(ctx context.Context, secret *api.Secret) {
	w, err := v.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
		Secret:        secret,
		RenewBehavior: api.RenewBehaviorIgnoreErrors,
	})
	if err != nil {
		v.log.Error("cannot watch vault token", "err", err)
		return
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.DoneCh():
			v.log.Info("vault token renewal ended", "accessor", secret.Auth.Accessor, "err", err)
			return
		case r := <-w.RenewCh():
			ttl := 0
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				ttl = r.Secret.Auth.LeaseDuration
			}
			v.log.Debug("renewed vault token", "accessor", secret.Auth.Accessor, "ttl", time.Duration(ttl)*time.Second)
		}
	}
}

// relogin logs in with AppRole until it works, backing off to 30 s, or until
// ctx ends (then it returns nil).
func (v *Vault) relogin(ctx context.Context) *api.Secret {
	backoff := 500 * time.Millisecond
	for {
		s, err := v.loginAppRole(ctx)
		if err == nil {
			return s
		}
		v.log.Error("vault AppRole login failed; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// retryAuth runs call and, when Vault answers that the token is invalid and
// spotter logs in with AppRole, logs in again (once, shared by concurrent
// callers) and runs call once more. A token can expire between the
// watcher's last renewal and its re-login, most of all on a loaded host;
// without this, requests in that gap would fail.
//
// Each run goes to any node that answers (onAnyNode).
func (v *Vault) retryAuth(ctx context.Context, call func() (*api.Secret, error)) (*api.Secret, error) {
	var s *api.Secret
	once := func() (err error) {
		s, err = call()
		return err
	}
	tok := v.client.Token()
	err := v.onAnyNode(ctx, once)
	if err == nil || v.cfg.RoleID == "" {
		return s, err
	}
	if status, msgs := responseErrors(err); status != 403 || !containsAny(msgs, "invalid token") {
		return s, err
	}
	v.loginMu.Lock()
	if v.client.Token() == tok { // nobody has logged in again since our call
		if _, lerr := v.loginAppRole(ctx); lerr != nil {
			v.loginMu.Unlock()
			return s, err
		}
	}
	v.loginMu.Unlock()
	err = v.onAnyNode(ctx, once)
	return s, err
}
