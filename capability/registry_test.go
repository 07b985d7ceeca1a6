package capability_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/token"
)

func TestRegistry(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			var logs logBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			st := open(t, log)
			clk := testclock.New(time.Now().UTC())
			reg := newRegistry(t, st, clk, log)
			ctx := context.Background()

			created, err := reg.Create(ctx, api.CreateTokenRequest{
				Name:        "gpu box",
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
				MFA:         &api.MFAInput{TOTP: true}, Policy: launchPolicy(),
				ExpiresIn: "10m", RequireSignature: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(created.URL, "https://spotter.test/hooks/") || created.SigningSecret == "" || created.TOTP == nil {
				t.Fatalf("created = %+v", created)
			}
			if created.ExpiresAt == nil || created.ExpiresAt.Sub(clk.Now()) > 10*time.Minute+time.Second {
				t.Errorf("expiresAt = %v; want now+10m", created.ExpiresAt)
			}
			if !strings.HasPrefix(created.TOTP.OTPAuthURL, "otpauth://totp/") || len(created.TOTP.QRPNG) < 100 {
				t.Errorf("totp enrolment = %q, %d PNG bytes", created.TOTP.OTPAuthURL, len(created.TOTP.QRPNG))
			}
			id := created.ID
			secretsShown := []string{testSecret, created.Token, created.SigningSecret, created.TOTP.Secret}

			t.Run("list and show hold no secret", func(t *testing.T) {
				list, err := reg.List(ctx)
				if err != nil || len(list) != 1 || list[0].ID != id {
					t.Fatalf("List = %v, %v", list, err)
				}
				info, err := reg.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal([]any{list, info})
				for _, s := range secretsShown {
					if strings.Contains(string(b), s) {
						t.Errorf("list/show leak a secret (%d chars): %s", len(s), b)
					}
				}
				if info.Credentials.AccessKeyID != "AKIA…MPLE" {
					t.Errorf("access key shown as %q; want masked", info.Credentials.AccessKeyID)
				}
			})

			t.Run("raw storage holds no secret", func(t *testing.T) {
				rec, err := st.Get(ctx, capability.StoreKey(id))
				if err != nil {
					t.Fatal(err)
				}
				raw := string(rec.Public) + string(rec.Sealed)
				for _, s := range secretsShown {
					if strings.Contains(raw, s) || strings.Contains(raw, base64.StdEncoding.EncodeToString([]byte(s))) {
						t.Errorf("stored record holds a secret in plain text")
					}
				}
			})

			t.Run("authenticate", func(t *testing.T) {
				tok, err := reg.Authenticate(ctx, created.Token)
				if err != nil || tok.ID != id {
					t.Fatalf("Authenticate = %v, %v", tok.ID, err)
				}
				creds, err := reg.Credentials(ctx, tok)
				if err != nil || creds.SecretAccessKey != testSecret || creds.AccessKeyID != testAKID {
					t.Fatalf("Credentials = %v, %v", creds, err)
				}
				if s := fmt.Sprint(creds); strings.Contains(s, testSecret) {
					t.Errorf("Credentials print their secret: %s", s)
				}
				_, err = reg.Authenticate(ctx, created.Token+"x")
				if apperr.Code(err) != apperr.TokenInvalid {
					t.Errorf("tampered token = %v; want token_invalid", err)
				}
			})

			t.Run("signature", func(t *testing.T) {
				tok, _ := reg.Authenticate(ctx, created.Token)
				body := []byte(`{"task":"status"}`)
				tests := []struct {
					name   string
					header string
					want   string
				}{
					{name: "missing", header: "", want: apperr.SignatureInvalid},
					{name: "wrong secret", header: token.Sign([]byte("nope"), clk.Now(), body), want: apperr.SignatureInvalid},
					{name: "stale", header: token.Sign([]byte(created.SigningSecret), clk.Now().Add(-6*time.Minute), body), want: apperr.SignatureExpired},
					{name: "future", header: token.Sign([]byte(created.SigningSecret), clk.Now().Add(6*time.Minute), body), want: apperr.SignatureExpired},
					{name: "valid", header: token.Sign([]byte(created.SigningSecret), clk.Now(), body), want: ""},
					{name: "replayed", header: token.Sign([]byte(created.SigningSecret), clk.Now(), body), want: apperr.SignatureReplay},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						_, err := reg.CheckSignature(ctx, tok, tt.header, body)
						if got := codeOf(err); got != tt.want {
							t.Fatalf("CheckSignature = %v; want %q", err, tt.want)
						}
						if err != nil && strings.Contains(err.Error(), created.SigningSecret) {
							t.Error("error text holds the signing secret")
						}
					})
				}
			})

			t.Run("totp once across two replicas", func(t *testing.T) {
				reg2 := newRegistry(t, st, clk, log)
				tok, _ := reg.Authenticate(ctx, created.Token)
				clk.Add(30 * time.Second)
				code, err := totp.GenerateCodeCustom(created.TOTP.Secret, clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil {
					t.Fatal(err)
				}
				if err := reg.CheckMFA(ctx, tok, ""); apperr.Code(err) != apperr.MFARequired {
					t.Errorf("no code = %v; want mfa_required", err)
				}
				wrong := fmt.Sprintf("%06d", (atomicAtoi(code)+1)%1000000)
				if err := reg.CheckMFA(ctx, tok, wrong); apperr.Code(err) != apperr.MFAInvalid {
					t.Errorf("wrong code = %v; want mfa_invalid", err)
				}
				// Every use counts as an MFA try before its code is checked,
				// so past the budget (one wrong code spent already) the rest
				// are refused unchecked, as locked or as a lost race.
				var ok, replayed, refused atomic.Int32
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := reg
						if i%2 == 1 {
							r = reg2
						}
						switch err := r.CheckMFA(ctx, tok, code); apperr.Code(err) {
						case apperr.MFAReplayed:
							replayed.Add(1)
						case apperr.MFALocked, apperr.Conflict:
							refused.Add(1)
						case "": // no error: the code was accepted
							ok.Add(1)
						default:
							t.Errorf("CheckMFA: %v", err)
						}
					}()
				}
				wg.Wait()
				// How many of the others were checked (replayed) or refused
				// unchecked depends on the interleaving: the accepted code
				// resets the failure count, so uses that come after it are
				// checked again. What must hold is that one is accepted.
				if ok.Load() != 1 || ok.Load()+replayed.Load()+refused.Load() != 8 {
					t.Errorf("8 concurrent uses of one code on 2 replicas: %d accepted, %d replayed, %d refused unchecked; want exactly 1 accepted",
						ok.Load(), replayed.Load(), refused.Load())
				}
				if _, _, err := reg.UnlockMFA(ctx, id); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("rotate keeps the URL", func(t *testing.T) {
				rot, err := reg.Rotate(ctx, id, api.RotateTokenRequest{
					Credentials:   &api.CredentialsInput{AccessKeyID: "AKIAIOSFODNN7NEWKEY1", SecretAccessKey: "newSecretKeyValue0123456789abcdefghijkl"},
					SigningSecret: true,
				})
				if err != nil || rot.SigningSecret == "" || rot.SigningSecret == created.SigningSecret {
					t.Fatalf("Rotate = %+v, %v", rot, err)
				}
				tok, err := reg.Authenticate(ctx, created.Token)
				if err != nil {
					t.Fatalf("token after rotate: %v", err)
				}
				creds, _ := reg.Credentials(ctx, tok)
				if creds.AccessKeyID != "AKIAIOSFODNN7NEWKEY1" {
					t.Errorf("credentials not rotated: %v", creds)
				}
				body := []byte(`{"task":"status","n":1}`)
				for name, secret := range map[string]string{"new": rot.SigningSecret, "old in grace": created.SigningSecret} {
					if _, err := reg.CheckSignature(ctx, tok, token.Sign([]byte(secret), clk.Now(), append(body, name...)), append(body, name...)); err != nil {
						t.Errorf("%s signing secret after rotate: %v", name, err)
					}
				}
				// Past the grace the old secret stops working. (The token itself
				// expires meanwhile, so check the signature step on its own.)
				clk.Add(61 * time.Minute)
				late := append(body, "late"...)
				if _, err := reg.CheckSignature(ctx, tok, token.Sign([]byte(created.SigningSecret), clk.Now(), late), late); apperr.Code(err) != apperr.SignatureInvalid {
					t.Errorf("old signing secret after the grace = %v; want signature_invalid", err)
				}
				clk.Add(-61 * time.Minute)
			})

			t.Run("revoke", func(t *testing.T) {
				c2, err := reg.Create(ctx, api.CreateTokenRequest{Name: "ci", Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
				if err != nil {
					t.Fatal(err)
				}
				reg2 := newRegistry(t, st, clk, log)
				if _, err := reg2.Authenticate(ctx, c2.Token); err != nil {
					t.Fatal(err)
				}
				if _, err := reg.Revoke(ctx, c2.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := reg.Authenticate(ctx, c2.Token); apperr.Code(err) != apperr.TokenRevoked {
					t.Errorf("revoked token on the revoking replica = %v; want token_revoked", err)
				}
				clk.Add(1100 * time.Millisecond) // past the other replica's cache TTL
				if _, err := reg2.Authenticate(ctx, c2.Token); apperr.Code(err) != apperr.TokenRevoked {
					t.Errorf("revoked token on another replica after the cache TTL = %v; want token_revoked", err)
				}
			})

			t.Run("expiry", func(t *testing.T) {
				clk.Add(11 * time.Minute)
				if _, err := reg.Authenticate(ctx, created.Token); apperr.Code(err) != apperr.TokenExpired {
					t.Errorf("token past expiresIn = %v; want token_expired", err)
				}
			})

			for _, s := range secretsShown {
				if strings.Contains(logs.String(), s) {
					t.Errorf("a secret (%d chars) reached the log", len(s))
				}
			}
		})
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return apperr.Code(err)
}

func atomicAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestCreateValidation(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	keys := &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tests := []struct {
		name string
		in   api.CreateTokenRequest
		want string
	}{
		{name: "no name", in: api.CreateTokenRequest{Credentials: keys, Policy: launchPolicy()}, want: "name"},
		{name: "no credentials", in: api.CreateTokenRequest{Name: "x", Policy: launchPolicy()}, want: "credentials"},
		{name: "bad key id", in: api.CreateTokenRequest{Name: "x", Credentials: &api.CredentialsInput{AccessKeyID: "akia", SecretAccessKey: testSecret}, Policy: launchPolicy()}, want: "credentials.accessKeyId"},
		{name: "short secret", in: api.CreateTokenRequest{Name: "x", Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: "short"}, Policy: launchPolicy()}, want: "credentials.secretAccessKey"},
		{name: "bad role", in: api.CreateTokenRequest{Name: "x", Credentials: &api.CredentialsInput{RoleARN: "arn:aws:iam::1:user/x"}, Policy: launchPolicy()}, want: "credentials.roleArn"},
		{name: "external id without role", in: api.CreateTokenRequest{Name: "x", Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret, ExternalID: "abc"}, Policy: launchPolicy()}, want: "credentials.externalId"},
		{name: "both MFA kinds", in: api.CreateTokenRequest{Name: "x", Credentials: keys, MFA: &api.MFAInput{TOTP: true, SerialNumber: "arn:aws:iam::123456789012:mfa/a"}, Policy: launchPolicy()}, want: "mfa"},
		{name: "bad serial", in: api.CreateTokenRequest{Name: "x", Credentials: keys, MFA: &api.MFAInput{SerialNumber: "my phone"}, Policy: launchPolicy()}, want: "mfa.serialNumber"},
		{name: "bad expiry", in: api.CreateTokenRequest{Name: "x", Credentials: keys, ExpiresIn: "forever", Policy: launchPolicy()}, want: "expiresIn"},
		{name: "launch policy without types", in: api.CreateTokenRequest{Name: "x", Credentials: keys}, want: "policy.instanceTypes"},
		{name: "role only is fine", in: api.CreateTokenRequest{Name: "x", Credentials: &api.CredentialsInput{RoleARN: "arn:aws:iam::123456789012:role/spotter", ExternalID: "ext-1"}, Policy: launchPolicy()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Create(context.Background(), tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Create = %v", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.HasPrefix(apperr.Details(err), tt.want) {
				t.Fatalf("Create = %v; want invalid_request about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error echoes the secret key")
			}
		})
	}
}
