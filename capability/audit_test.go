package capability_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// records is a slog.Handler that keeps every record, for asserting the
// audit events themselves rather than the text a handler made of them.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// find returns the attributes of every record with message msg.
func (h *records) find(msg string) []map[string]slog.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		m := map[string]slog.Value{"level": slog.StringValue(r.Level.String())}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Resolve()
			return true
		})
		out = append(out, m)
	}
	return out
}

// all renders every record, for a leak check.
func (h *records) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.recs {
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
			return true
		})
		b.WriteByte('\n')
	}
	return b.String()
}

// wantEvent fails unless exactly one record msg was logged at INFO with the
// given attributes (compared as strings).
func wantEvent(t *testing.T, h *records, msg string, attrs map[string]string) {
	t.Helper()
	got := h.find(msg)
	if len(got) != 1 {
		t.Fatalf("%d %q records; want 1 (log:\n%s)", len(got), msg, h.all())
	}
	if lvl := got[0]["level"].String(); lvl != "INFO" {
		t.Errorf("%q logged at %s; want INFO", msg, lvl)
	}
	for k, want := range attrs {
		v, ok := got[0][k]
		if !ok {
			t.Errorf("%q has no %s attribute", msg, k)
			continue
		}
		if s := v.String(); s != want {
			t.Errorf("%q %s = %q; want %q", msg, k, s, want)
		}
	}
}

// conflicting makes the next n check-and-set writes of an existing record
// fail as if another replica had written first, and counts those writes.
type conflicting struct {
	store
	left   atomic.Int32
	writes atomic.Int32
}

func (c *conflicting) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	if strings.HasPrefix(key, "tokens/") && cas != secrets.CreateOnly {
		if c.writes.Add(1) > 100*maxWrites {
			// An unbounded retry loop fails here instead of hanging the test.
			return 0, errors.New("runaway check-and-set retries")
		}
		if c.left.Add(-1) >= 0 {
			return 0, secrets.ErrConflict
		}
	}
	return c.store.Put(ctx, key, rec, cas)
}

// maxWrites is how many check-and-set writes one revoke or rotate makes
// before it gives up with a conflict: bounded, so a hot record cannot hold
// a request (and its store connection) forever.
const maxWrites = 5

func TestUpdateRetriesAreBounded(t *testing.T) {
	ctx := context.Background()
	keys := &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tests := []struct {
		name       string
		conflicts  int32
		op         func(reg *capability.Registry, id string) error
		wantCode   string // "" = success
		wantWrites int32
		wantEvent  string
	}{
		{name: "revoke, always beaten", conflicts: 1 << 20, op: revoke, wantCode: apperr.Conflict, wantWrites: maxWrites},
		{name: "revoke wins on the last try", conflicts: maxWrites - 1, op: revoke, wantWrites: maxWrites, wantEvent: "capability token revoked"},
		{name: "revoke wins at once", op: revoke, wantWrites: 1, wantEvent: "capability token revoked"},
		{name: "rotate, always beaten", conflicts: 1 << 20, op: rotateSigning, wantCode: apperr.Conflict, wantWrites: maxWrites},
		{name: "rotate wins on the second try", conflicts: 1, op: rotateSigning, wantWrites: 2, wantEvent: "capability token rotated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &conflicting{store: backends(t)["embedded"](t, slog.New(slog.DiscardHandler))}
			h := &records{}
			reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(h))
			c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Credentials: keys, Policy: launchPolicy(), RequireSignature: true})
			if err != nil {
				t.Fatal(err)
			}
			st.left.Store(tt.conflicts)
			opErr := tt.op(reg, c.ID)
			if got := codeOf(opErr); got != tt.wantCode {
				t.Fatalf("op = %v; want code %q", opErr, tt.wantCode)
			}
			if n := st.writes.Load(); n != tt.wantWrites {
				t.Fatalf("%d check-and-set writes; want %d", n, tt.wantWrites)
			}
			info, err := reg.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCode != "" {
				if info.RevokedAt != nil || info.RotatedAt != nil {
					t.Errorf("a failed update changed the record: %+v", info)
				}
				for _, msg := range []string{"capability token revoked", "capability token rotated"} {
					if n := len(h.find(msg)); n != 0 {
						t.Errorf("a failed update logged %q %d times", msg, n)
					}
				}
				if !strings.Contains(apperr.Details(opErr), "try again") {
					t.Errorf("conflict details %q do not say to try again", apperr.Details(opErr))
				}
				return
			}
			wantEvent(t, h, tt.wantEvent, map[string]string{"token_id": c.ID})
		})
	}
}

func revoke(reg *capability.Registry, id string) error {
	_, err := reg.Revoke(context.Background(), id)
	return err
}

func rotateSigning(reg *capability.Registry, id string) error {
	_, err := reg.Rotate(context.Background(), id, api.RotateTokenRequest{SigningSecret: true})
	return err
}

// The audit trail: create, revoke and rotate each log one INFO event naming
// the token and what changed, and no secret.
func TestAuditEvents(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			h := &records{}
			log := slog.New(h)
			st := open(t, log)
			clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			reg := newRegistry(t, st, clk, log)
			c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "audited",
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
				MFA:         &api.MFAInput{TOTP: true}, Policy: launchPolicy(), RequireSignature: true,
				Sources: &api.SourcesInput{Slack: &api.SlackSource{SigningSecret: "slack-signing-secret-1"}}})
			if err != nil {
				t.Fatal(err)
			}
			wantEvent(t, h, "capability token created", map[string]string{
				"token_id": c.ID, "name": "audited", "mfa": api.MFATOTP, "require_signature": "true", "credentials": "keys",
			})

			newSecret := "newSecretKeyValue0123456789abcdefghijkl"
			rot, err := reg.Rotate(ctx, c.ID, api.RotateTokenRequest{
				Credentials:   &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7NEWKEY1", SecretAccessKey: newSecret},
				SigningSecret: true, TOTP: true,
				Sources: &api.SourcesInput{Slack: &api.SlackSource{}, Twilio: &api.TwilioSource{AuthToken: "twilio-auth-token-1"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			wantEvent(t, h, "capability token rotated", map[string]string{
				"token_id": c.ID, "credentials": "true", "signing_secret": "true", "totp": "true", "sources": "[twilio]",
			})
			if rot.RotatedAt == nil || !rot.RotatedAt.Equal(clk.Now()) {
				t.Errorf("rotatedAt = %v; want now", rot.RotatedAt)
			}

			// Revoking twice is one revocation: the first time is kept, and
			// each call that succeeds is logged.
			if _, err := reg.Revoke(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			wantEvent(t, h, "capability token revoked", map[string]string{"token_id": c.ID})
			first := clk.Now()
			clk.Add(time.Hour)
			info, err := reg.Revoke(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if info.RevokedAt == nil || !info.RevokedAt.Equal(first) {
				t.Errorf("second revoke: revokedAt = %v; want the first %v", info.RevokedAt, first)
			}
			if n := len(h.find("capability token revoked")); n != 2 {
				t.Errorf("%d revoke events; want 2", n)
			}

			// A revoked token cannot be rotated; an unknown one neither
			// revokes nor logs.
			_, err = reg.Rotate(ctx, c.ID, api.RotateTokenRequest{SigningSecret: true})
			if apperr.Code(err) != apperr.Conflict {
				t.Errorf("Rotate(revoked) = %v; want conflict", err)
			}
			if n := len(h.find("capability token rotated")); n != 1 {
				t.Errorf("%d rotate events after a refused rotate; want 1", n)
			}
			unknown := "tok_" + strings.Repeat("a", 20)
			if _, err := reg.Revoke(ctx, unknown); apperr.Code(err) != apperr.NotFound {
				t.Errorf("Revoke(unknown) = %v; want not_found", err)
			}
			if n := len(h.find("capability token revoked")); n != 2 {
				t.Errorf("%d revoke events after revoking an unknown token; want 2", n)
			}

			logs := h.all()
			for _, s := range []string{testSecret, newSecret, c.Token, c.SigningSecret, c.TOTP.Secret, rot.SigningSecret, rot.TOTP.Secret,
				"slack-signing-secret-1", "twilio-auth-token-1"} {
				if strings.Contains(logs, s) {
					t.Errorf("a secret (%d chars) reached the audit log", len(s))
				}
			}
		})
	}
}

// Rotation keeps the previous signing secret for its grace and drops the
// older ones whose grace ended; sources given empty are removed.
func TestRotateSigningSecretGrace(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", RequireSignature: true,
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy(),
		Sources: &api.SourcesInput{Slack: &api.SlackSource{SigningSecret: "slack-signing-secret-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := reg.Rotate(ctx, c.ID, api.RotateTokenRequest{SigningSecret: true, Grace: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Minute)
	r2, err := reg.Rotate(ctx, c.ID, api.RotateTokenRequest{SigningSecret: true, Grace: "0s",
		Sources: &api.SourcesInput{Slack: &api.SlackSource{}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Sources) != 0 {
		t.Errorf("sources after removing slack = %v; want none", r2.Sources)
	}
	n := 0
	check := func(when, secret string, want string) {
		t.Helper()
		tok, err := reg.Authenticate(ctx, c.Token)
		if err != nil {
			t.Fatal(err)
		}
		n++
		body := []byte(fmt.Sprintf(`{"task":"status","n":%d}`, n))
		_, err = reg.CheckSignature(ctx, tok, token.Sign([]byte(secret), clk.Now(), body), body)
		if got := codeOf(err); got != want {
			t.Errorf("%s: CheckSignature = %v; want %q", when, err, want)
		}
	}
	// r1's secret got grace 0s when r2 replaced it; the original secret
	// keeps the 10m it was given when r1 replaced it.
	check("current secret", r2.SigningSecret, "")
	check("secret replaced with grace 0s", r1.SigningSecret, apperr.SignatureInvalid)
	check("original secret within its grace", c.SigningSecret, "")
	clk.Add(5 * time.Minute)
	check("original secret at the end of its grace", c.SigningSecret, apperr.SignatureInvalid)
}
