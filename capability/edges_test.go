package capability_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// Without a CacheTTL a replica trusts a record it read for 2 s: another
// replica's revocation is refused from exactly then, not before.
func TestDefaultCacheTTL(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	auth := authorityFor(t, st, clk)
	replica := func() *capability.Registry {
		r, err := capability.New(capability.Config{Store: st, Authority: auth, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := replica(), replica()
	c, err := a.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(),
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(ctx, c.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(2*time.Second - time.Millisecond)
	if _, err := b.Authenticate(ctx, c.Token); err != nil {
		t.Fatalf("other replica within the cache TTL = %v; want its cached, active record", err)
	}
	clk.Add(time.Millisecond)
	if _, err := b.Authenticate(ctx, c.Token); apperr.Code(err) != apperr.TokenRevoked {
		t.Fatalf("other replica at the cache TTL = %v; want token_revoked", err)
	}
}

// What create records about credentials and MFA, as list and show tell it.
func TestCreateRecordsKinds(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	kid, err := st.SigningKeyID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	const serial = "arn:aws:iam::123456789012:mfa/alice"
	tests := []struct {
		name     string
		in       api.CreateTokenRequest
		wantMFA  api.MFAInfo
		wantCred api.CredentialRef
	}{
		{name: "keys, no MFA", in: api.CreateTokenRequest{Credentials: keys},
			wantMFA: api.MFAInfo{Type: api.MFANone}, wantCred: api.CredentialRef{Type: "keys", AccessKeyID: "AKIA…MPLE"}},
		{name: "empty MFA", in: api.CreateTokenRequest{Credentials: keys, MFA: &api.MFAInput{}},
			wantMFA: api.MFAInfo{Type: api.MFANone}, wantCred: api.CredentialRef{Type: "keys", AccessKeyID: "AKIA…MPLE"}},
		{name: "AWS MFA", in: api.CreateTokenRequest{Credentials: keys, MFA: &api.MFAInput{SerialNumber: serial}},
			wantMFA: api.MFAInfo{Type: api.MFAAWS, SerialNumber: serial}, wantCred: api.CredentialRef{Type: "keys", AccessKeyID: "AKIA…MPLE"}},
		{name: "TOTP", in: api.CreateTokenRequest{Credentials: keys, MFA: &api.MFAInput{TOTP: true}},
			wantMFA: api.MFAInfo{Type: api.MFATOTP}, wantCred: api.CredentialRef{Type: "keys", AccessKeyID: "AKIA…MPLE"}},
		{name: "role", in: api.CreateTokenRequest{Credentials: &api.CredentialsInput{RoleARN: "arn:aws:iam::123456789012:role/spotter"}},
			wantMFA: api.MFAInfo{Type: api.MFANone}, wantCred: api.CredentialRef{Type: "role", RoleARN: "arn:aws:iam::123456789012:role/spotter"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Name, tt.in.Policy = "x", launchPolicy()
			c, err := reg.Create(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			info, err := reg.Get(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if info.MFA != tt.wantMFA || info.Credentials != tt.wantCred {
				t.Errorf("mfa %+v, credentials %+v; want %+v, %+v", info.MFA, info.Credentials, tt.wantMFA, tt.wantCred)
			}
			if info.KeyID != kid {
				t.Errorf("keyId = %q; want the signing key %q", info.KeyID, kid)
			}
			if (c.TOTP != nil) != (tt.wantMFA.Type == api.MFATOTP) {
				t.Errorf("TOTP enrolment = %v for MFA %s", c.TOTP, tt.wantMFA.Type)
			}
		})
	}
}

func TestRotateNothing(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	c, err := reg.Create(context.Background(), api.CreateTokenRequest{Name: "x", Policy: launchPolicy(),
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Rotate(context.Background(), c.ID, api.RotateTokenRequest{Grace: "1h"})
	if apperr.Code(err) != apperr.Invalid || !strings.HasPrefix(apperr.Details(err), "rotate") {
		t.Fatalf("Rotate(nothing) = %v; want invalid_request naming what can be rotated", err)
	}
	// Credentials alone are something.
	if _, err := reg.Rotate(context.Background(), c.ID, api.RotateTokenRequest{
		Credentials: &api.CredentialsInput{RoleARN: "arn:aws:iam::123456789012:role/other"}}); err != nil {
		t.Fatalf("Rotate(credentials) = %v", err)
	}
}

// The reaper's view: a revoked token's credentials can still be read by id
// (to end what it launched), and Revoked tells revoked, active and gone apart.
func TestCredentialsByIDAndRevoked(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(),
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	if revoked, err := reg.Revoked(ctx, c.ID); err != nil || revoked {
		t.Fatalf("Revoked(active) = %v, %v; want false", revoked, err)
	}
	if _, err := reg.Revoke(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if revoked, err := reg.Revoked(ctx, c.ID); err != nil || !revoked {
		t.Fatalf("Revoked(revoked) = %v, %v; want true", revoked, err)
	}
	if revoked, err := reg.Revoked(ctx, "tok_"+strings.Repeat("b", 20)); err != nil || !revoked {
		t.Fatalf("Revoked(gone) = %v, %v; want true", revoked, err)
	}
	creds, info, err := reg.CredentialsByID(ctx, c.ID)
	if err != nil || creds.AccessKeyID != testAKID || creds.SecretAccessKey != testSecret || info.ID != c.ID {
		t.Fatalf("CredentialsByID(revoked) = %v, %v, %v", creds, info.ID, err)
	}
}

// A TOTP token takes code after code: the step store is written again on
// every accepted code (check-and-set on the version it read), not only once.
func TestTOTPAcceptsSuccessiveCodes(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t, slog.New(slog.DiscardHandler))
			clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
			c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(), MFA: &api.MFAInput{TOTP: true},
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				tok, err := reg.Authenticate(ctx, c.Token)
				if err != nil {
					t.Fatal(err)
				}
				code, err := totp.GenerateCodeCustom(c.TOTP.Secret, clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil {
					t.Fatal(err)
				}
				if err := reg.CheckMFA(ctx, tok, code); err != nil {
					t.Fatalf("code %d: CheckMFA = %v", i+1, err)
				}
				clk.Add(90 * time.Second) // past the skew window of the last code
			}
		})
	}
}

// Credentials print masked whatever the key's length: the first and last
// four characters of a long enough id, an ellipsis for a short one.
func TestCredentialsMasking(t *testing.T) {
	tests := []struct{ id, want string }{
		{id: "AKIAIOSFODNN", want: "AKIA…ODNN"},
		{id: "AKIAIOSFODN", want: "…"},
		{id: "", want: ""},
	}
	for _, tt := range tests {
		got := capability.Credentials{AccessKeyID: tt.id, SecretAccessKey: testSecret}.String()
		if want := "Credentials{accessKeyId:" + tt.want + " roleArn:}"; got != want {
			t.Errorf("Credentials{%q}.String() = %q; want %q", tt.id, got, want)
		}
		if strings.Contains(got, testSecret) {
			t.Errorf("String() shows the secret key")
		}
	}
}

// An AWS MFA code is six ASCII digits: anything else is refused before STS
// (or the try counter) sees it.
func TestAWSMFACodeShape(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(),
		MFA:         &api.MFAInput{SerialNumber: "arn:aws:iam::123456789012:mfa/alice"},
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := reg.Authenticate(ctx, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"12345/", "12345:", "/23456", ":23456", "12a456", "12345", "1234567", "１２３４５６"} {
		if err := reg.CheckMFA(ctx, tok, code); apperr.Code(err) != apperr.MFAInvalid || !strings.Contains(apperr.Details(err), "six digits") {
			t.Errorf("CheckMFA(%q) = %v; want mfa_invalid saying six digits", code, err)
		}
	}
	if err := reg.CheckMFA(ctx, tok, ""); apperr.Code(err) != apperr.MFARequired {
		t.Errorf("CheckMFA(\"\") = %v; want mfa_required", err)
	}
	// Every digit, 0 and 9 included, passes on to STS.
	for _, code := range []string{"901234", "567890"} {
		if err := reg.CheckMFA(ctx, tok, code); err != nil {
			t.Errorf("CheckMFA(%q) = %v; want it passed on to STS", code, err)
		}
		if err := reg.SettleMFA(ctx, tok, nil); err != nil {
			t.Errorf("SettleMFA after %q = %v", code, err)
		}
	}
}

// A right TOTP code forgives the wrong ones before it: the budget starts
// again, so the next wrong codes are answered mfa_invalid, not a lock.
func TestRightCodeForgivesFailures(t *testing.T) {
	ctx := context.Background()
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(), MFA: &api.MFAInput{TOTP: true},
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	wrongCodes := func(n int) error {
		t.Helper()
		var last error
		for range n {
			tok, err := reg.Authenticate(ctx, c.Token)
			if err != nil {
				t.Fatal(err)
			}
			right, _ := totp.GenerateCodeCustom(c.TOTP.Secret, clk.Now(), opts)
			wrong := fmt.Sprintf("%06d", (atomicAtoi(right)+500000)%1000000)
			last = reg.CheckMFA(ctx, tok, wrong)
		}
		return last
	}
	if err := wrongCodes(token.MaxMFAFailures - 1); apperr.Code(err) != apperr.MFAInvalid {
		t.Fatalf("wrong code %d = %v; want mfa_invalid", token.MaxMFAFailures-1, err)
	}
	tok, err := reg.Authenticate(ctx, c.Token)
	if err != nil {
		t.Fatal(err)
	}
	right, _ := totp.GenerateCodeCustom(c.TOTP.Secret, clk.Now(), opts)
	if err := reg.CheckMFA(ctx, tok, right); err != nil {
		t.Fatalf("right code after %d wrong ones = %v", token.MaxMFAFailures-1, err)
	}
	if err := wrongCodes(token.MaxMFAFailures - 1); apperr.Code(err) != apperr.MFAInvalid {
		t.Fatalf("wrong codes after a right one = %v; want mfa_invalid (a fresh budget), not a lock", err)
	}
}

// mfaResetFails fails the second write of a token's MFA try record (the
// reset after a right code; the first counts the try).
type mfaResetFails struct {
	store
	writes atomic.Int32
}

func (m *mfaResetFails) Put(ctx context.Context, key string, rec secrets.Record, cas int) (int, error) {
	if strings.HasPrefix(key, "mfa/") && m.writes.Add(1) == 2 {
		return 0, secrets.ErrUnavailable
	}
	return m.store.Put(ctx, key, rec, cas)
}

// A right code whose failure reset cannot be written is still accepted (it
// is spent), and the operator is warned; a reset that works warns no one.
func TestMFAResetFailureIsLogged(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failing  bool
		wantWarn int
	}{{name: "reset written", wantWarn: 0}, {name: "reset fails", failing: true, wantWarn: 1}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			var st store = backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
			if tt.failing {
				st = &mfaResetFails{store: st}
			}
			h := &records{}
			clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			reg := newRegistry(t, st, clk, slog.New(h))
			c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", Policy: launchPolicy(), MFA: &api.MFAInput{TOTP: true},
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := reg.Authenticate(ctx, c.Token)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := totp.GenerateCodeCustom(c.TOTP.Secret, clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err := reg.CheckMFA(ctx, tok, code); err != nil {
				t.Fatalf("CheckMFA(right code) = %v; want accepted", err)
			}
			warns := h.find("MFA failures not reset after an accepted code")
			if len(warns) != tt.wantWarn {
				t.Fatalf("%d warnings; want %d (log:\n%s)", len(warns), tt.wantWarn, h.all())
			}
			if tt.wantWarn > 0 {
				if lvl := warns[0]["level"].String(); lvl != "WARN" || warns[0]["token_id"].String() != c.ID {
					t.Errorf("warning at %s for %s; want WARN for %s", lvl, warns[0]["token_id"], c.ID)
				}
			}
		})
	}
}
