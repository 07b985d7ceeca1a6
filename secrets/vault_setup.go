package secrets

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/apperr"
)

// ensure makes sure the KV v2 mount, the transit mount and both keys exist,
// creating what is missing. It checks what it finds, too: a derived=false
// key would silently drop the per-token binding the design relies on.
func (v *Vault) ensure(ctx context.Context) error {
	if err := v.ensureMount(ctx, v.cfg.KVMount, "kv", map[string]string{"version": "2"}, "spotter records"); err != nil {
		return err
	}
	if err := v.ensureMount(ctx, v.cfg.TransitMount, "transit", nil, "spotter sealing and token signing"); err != nil {
		return err
	}
	if err := v.ensureKey(ctx, v.cfg.KeyName, map[string]any{
		"type": "aes256-gcm96", "derived": true, "exportable": false, "allow_plaintext_backup": false,
	}); err != nil {
		return err
	}
	return v.ensureKey(ctx, v.cfg.SigningKeyName, map[string]any{
		"type": "ed25519", "exportable": false, "allow_plaintext_backup": false,
	})
}

// ensureMount checks sys/mounts/<path> and mounts the engine if it is
// missing. A least-privilege token may not read sys/mounts at all; then a
// probe on the engine itself decides whether the mount is there, and only a
// missing mount is an error, one that names the permission to grant.
func (v *Vault) ensureMount(ctx context.Context, path, typ string, opts map[string]string, desc string) error {
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	var m *api.MountOutput
	err := v.onAnyNode(ctx, func() (err error) {
		m, err = v.client.Sys().GetMountWithContext(ctx, path)
		return err
	})
	status, _ := responseErrors(err)
	switch {
	case err == nil:
		if m.Type != typ || (opts["version"] != "" && m.Options["version"] != opts["version"]) {
			return apperr.New(apperr.Internal, "vault: mount %s/ is a %s engine (options %v); spotter needs %s %v there: choose another mount",
				path, m.Type, m.Options, typ, opts)
		}
		return nil
	case status == 403:
		if v.probeMount(ctx, path, typ) {
			v.log.Debug("cannot read sys/mounts; the engine answers, so the mount exists", "mount", path)
			return nil
		}
		return apperr.Wrap(err, apperr.Unavailable,
			"vault: cannot check or create the %s mount %q: permission denied on sys/mounts/%s (grant read, create and update there, or mount %s at %s/ beforehand)",
			typ, path, path, typ, path)
	case status == 400 || status == 404:
		// "No secret engine mount at <path>/": create it below.
	default:
		return v.fault(err, "sys/mounts/"+path)
	}
	err = v.onAnyNode(ctx, func() error {
		return v.client.Sys().MountWithContext(ctx, path, &api.MountInput{Type: typ, Options: opts, Description: desc})
	})
	status, msgs := responseErrors(err)
	switch {
	case err == nil:
		v.log.Info("created vault mount", "mount", path, "type", typ, "options", opts)
		return nil
	case status == 400 && containsAny(msgs, "already in use"):
		return nil // another replica (or test) mounted it first
	case status == 403:
		return apperr.Wrap(err, apperr.Unavailable,
			"vault: the %s mount %q is missing and the token may not create it: permission denied on sys/mounts/%s (grant create and update there, or mount it beforehand)",
			typ, path, path)
	}
	return v.fault(err, "mount "+path)
}

// probeMount reports whether an engine answers at path without sys access:
// KV v2 answers a LIST of its metadata, transit a read of one of our keys,
// with 200 or a plain 404. A missing mount answers "no handler for route"
// where the policy allows the path, and 403 where it does not.
func (v *Vault) probeMount(ctx context.Context, path, typ string) bool {
	probes := []string{path + "/metadata/?list=true"}
	if typ == "transit" {
		probes = []string{path + "/keys/" + v.cfg.KeyName, path + "/keys/" + v.cfg.SigningKeyName}
	}
	for _, probe := range probes {
		p, query, _ := strings.Cut(probe, "?")
		var params map[string][]string
		if query != "" {
			params = map[string][]string{"list": {"true"}}
		}
		err := v.onAnyNode(ctx, func() error {
			// The request is built per try, so it carries the current node's address.
			resp, err := v.client.Logical().ReadRawWithDataWithContext(ctx, p, params)
			if resp != nil {
				resp.Body.Close()
			}
			return err
		})
		status, msgs := responseErrors(err)
		if err == nil || (status == 404 && !containsAny(msgs, "no handler for route")) {
			return true
		}
	}
	return false
}

// ensureKey reads transit/keys/<name> and creates it with params if missing;
// an existing key must have the type (and derivation) params ask for.
func (v *Vault) ensureKey(ctx context.Context, name string, params map[string]any) error {
	ctx, cancel := v.deadline(ctx)
	defer cancel()
	path := v.cfg.TransitMount + "/keys/" + name
	var s *api.Secret
	err := v.onAnyNode(ctx, func() (err error) {
		s, err = v.client.Logical().ReadWithContext(ctx, path)
		return err
	})
	if err != nil {
		if status, _ := responseErrors(err); status == 403 {
			return apperr.Wrap(err, apperr.Unavailable,
				"vault: permission denied reading %s (spotter needs read there to check the key, and create/update to make it)", path)
		}
		return v.fault(err, path)
	}
	if s != nil {
		typ, _ := s.Data["type"].(string)
		derived, _ := s.Data["derived"].(bool)
		if typ != params["type"] || (params["derived"] == true) != derived {
			return apperr.New(apperr.Internal, "vault: transit key %s is type %s derived=%t; spotter needs type %s derived=%t: choose another key name",
				path, typ, derived, params["type"], params["derived"] == true)
		}
		return nil
	}
	if err := v.onAnyNode(ctx, func() error {
		_, err := v.client.Logical().WriteWithContext(ctx, path, params)
		return err
	}); err != nil {
		if status, _ := responseErrors(err); status == 403 {
			return apperr.Wrap(err, apperr.Unavailable,
				"vault: transit key %s is missing and the token may not create it: permission denied on %s (grant create and update)", path, path)
		}
		return v.fault(err, "create "+path)
	}
	v.log.Info("created vault transit key", "key", path, "type", params["type"], "derived", params["derived"] == true)
	return nil
}

// String keeps the token out of any %v of the store.
func (v *Vault) String() string {
	return fmt.Sprintf("secrets.Vault{addr: %s, kv: %s, transit: %s}", v.cfg.Addr, v.cfg.KVMount, v.cfg.TransitMount)
}
