package capability_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/token"
)

// Every create limit at the limit (accepted) and one step past (refused):
// a test of only the far side cannot tell > from >=.
func TestCreateLimits(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
	keys := &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	role := "arn:aws:iam::123456789012:role/spotter"
	in := func(mod func(*api.CreateTokenRequest)) api.CreateTokenRequest {
		c := api.CreateTokenRequest{Name: "x", Credentials: keys, Policy: launchPolicy()}
		mod(&c)
		return c
	}
	src := func(s api.SourcesInput) func(*api.CreateTokenRequest) {
		return func(c *api.CreateTokenRequest) { c.Sources = &s }
	}
	tests := []struct {
		name    string
		in      api.CreateTokenRequest
		want    string // details prefix; "" = accepted
		wantExp time.Duration
	}{
		{name: "expiresIn 1m", in: in(func(c *api.CreateTokenRequest) { c.ExpiresIn = "1m" }), wantExp: time.Minute},
		{name: "expiresIn 59s", in: in(func(c *api.CreateTokenRequest) { c.ExpiresIn = "59s" }), want: "expiresIn"},
		{name: "expiresIn 366d", in: in(func(c *api.CreateTokenRequest) { c.ExpiresIn = "8784h" }), wantExp: capability.MaxExpiresIn},
		{name: "expiresIn 366d+1s", in: in(func(c *api.CreateTokenRequest) { c.ExpiresIn = "8784h0m1s" }), want: "expiresIn"},
		{name: "expiresIn negative", in: in(func(c *api.CreateTokenRequest) { c.ExpiresIn = "-1h" }), want: "expiresIn"},

		{name: "name of 64", in: in(func(c *api.CreateTokenRequest) { c.Name = strings.Repeat("é", 64) })},
		{name: "name of 65", in: in(func(c *api.CreateTokenRequest) { c.Name = strings.Repeat("é", 65) }), want: "name"},
		{name: "name with a newline", in: in(func(c *api.CreateTokenRequest) { c.Name = "a\nb" }), want: "name"},

		{name: "access key id of 16", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: strings.Repeat("A", 16), SecretAccessKey: testSecret}
		})},
		{name: "access key id of 15", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: strings.Repeat("A", 15), SecretAccessKey: testSecret}
		}), want: "credentials.accessKeyId"},
		{name: "access key id of 128", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: strings.Repeat("A", 128), SecretAccessKey: testSecret}
		})},
		{name: "access key id of 129", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: strings.Repeat("A", 129), SecretAccessKey: testSecret}
		}), want: "credentials.accessKeyId"},
		{name: "secret key of 16", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: strings.Repeat("s", 16)}
		})},
		{name: "secret key of 15", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: strings.Repeat("s", 15)}
		}), want: "credentials.secretAccessKey"},
		{name: "secret key of 128", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: strings.Repeat("s", 128)}
		})},
		{name: "secret key of 129", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: strings.Repeat("s", 129)}
		}), want: "credentials.secretAccessKey"},
		{name: "secret key with a space", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: "wJalrXUtnFEMI K7MDENG"}
		}), want: "credentials.secretAccessKey"},
		{name: "secret key without key id", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{SecretAccessKey: testSecret}
		}), want: "credentials.accessKeyId"},
		{name: "external id of 2", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{RoleARN: role, ExternalID: "ab"}
		})},
		{name: "external id of 1", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{RoleARN: role, ExternalID: "a"}
		}), want: "credentials.externalId"},
		{name: "external id of 1224", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{RoleARN: role, ExternalID: strings.Repeat("e", 1224)}
		})},
		{name: "external id of 1225", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{RoleARN: role, ExternalID: strings.Repeat("e", 1225)}
		}), want: "credentials.externalId"},
		{name: "external id with a space", in: in(func(c *api.CreateTokenRequest) {
			c.Credentials = &api.CredentialsInput{RoleARN: role, ExternalID: "a b"}
		}), want: "credentials.externalId"},
		{name: "empty credentials", in: in(func(c *api.CreateTokenRequest) { c.Credentials = &api.CredentialsInput{} }), want: "credentials"},
		{name: "AWS MFA serial", in: in(func(c *api.CreateTokenRequest) {
			c.MFA = &api.MFAInput{SerialNumber: "arn:aws:iam::123456789012:mfa/alice"}
		})},
		{name: "hardware MFA serial", in: in(func(c *api.CreateTokenRequest) { c.MFA = &api.MFAInput{SerialNumber: "GAHT12345678"} })},

		{name: "slack secret of 8", in: in(src(api.SourcesInput{Slack: &api.SlackSource{SigningSecret: strings.Repeat("s", 8)}}))},
		{name: "slack secret of 7", in: in(src(api.SourcesInput{Slack: &api.SlackSource{SigningSecret: strings.Repeat("s", 7)}})), want: "sources.slack.signingSecret"},
		{name: "slack secret of 256", in: in(src(api.SourcesInput{Slack: &api.SlackSource{SigningSecret: strings.Repeat("s", 256)}}))},
		{name: "slack secret of 257", in: in(src(api.SourcesInput{Slack: &api.SlackSource{SigningSecret: strings.Repeat("s", 257)}})), want: "sources.slack.signingSecret"},
		{name: "twilio token of 8", in: in(src(api.SourcesInput{Twilio: &api.TwilioSource{AuthToken: strings.Repeat("t", 8)}}))},
		{name: "twilio token of 7", in: in(src(api.SourcesInput{Twilio: &api.TwilioSource{AuthToken: strings.Repeat("t", 7)}})), want: "sources.twilio.authToken"},
		{name: "twilio token of 256", in: in(src(api.SourcesInput{Twilio: &api.TwilioSource{AuthToken: strings.Repeat("t", 256)}}))},
		{name: "twilio token of 257", in: in(src(api.SourcesInput{Twilio: &api.TwilioSource{AuthToken: strings.Repeat("t", 257)}})), want: "sources.twilio.authToken"},
		{name: "mailgun key of 8", in: in(src(api.SourcesInput{Mailgun: &api.MailgunSource{SigningKey: strings.Repeat("m", 8)}}))},
		{name: "mailgun key of 7", in: in(src(api.SourcesInput{Mailgun: &api.MailgunSource{SigningKey: strings.Repeat("m", 7)}})), want: "sources.mailgun.signingKey"},
		{name: "mailgun key of 256 runes", in: in(src(api.SourcesInput{Mailgun: &api.MailgunSource{SigningKey: strings.Repeat("ü", 256)}}))},
		{name: "mailgun key of 257", in: in(src(api.SourcesInput{Mailgun: &api.MailgunSource{SigningKey: strings.Repeat("m", 257)}})), want: "sources.mailgun.signingKey"},
		{name: "ifttt secret of 32", in: in(src(api.SourcesInput{IFTTT: &api.IFTTTSource{Secret: strings.Repeat("i", 32)}}))},
		{name: "ifttt secret of 31", in: in(src(api.SourcesInput{IFTTT: &api.IFTTTSource{Secret: strings.Repeat("i", 31)}})), want: "sources.ifttt.secret"},
		{name: "ifttt secret of 256", in: in(src(api.SourcesInput{IFTTT: &api.IFTTTSource{Secret: strings.Repeat("i", 256)}}))},
		{name: "ifttt secret of 257", in: in(src(api.SourcesInput{IFTTT: &api.IFTTTSource{Secret: strings.Repeat("i", 257)}})), want: "sources.ifttt.secret"},
		{name: "source secret with a NUL", in: in(src(api.SourcesInput{Slack: &api.SlackSource{SigningSecret: "abcd\x00efgh"}})), want: "sources.slack.signingSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := reg.Create(context.Background(), tt.in)
			if tt.want != "" {
				if apperr.Code(err) != apperr.Invalid || !strings.HasPrefix(apperr.Details(err), tt.want) {
					t.Fatalf("Create = %v; want invalid_request about %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create = %v; want accepted", err)
			}
			if tt.wantExp != 0 {
				if created.ExpiresAt == nil || !created.ExpiresAt.Equal(clk.Now().Add(tt.wantExp)) {
					t.Fatalf("expiresAt = %v; want now + %s", created.ExpiresAt, tt.wantExp)
				}
				// The token lives until exactly then, and not a second longer.
				tok, err := reg.Authenticate(context.Background(), created.Token)
				if err != nil {
					t.Fatalf("Authenticate at once: %v", err)
				}
				if tok.Status(clk.Now().Add(tt.wantExp-time.Second)) != "active" || tok.Status(clk.Now().Add(tt.wantExp)) != "expired" {
					t.Errorf("status just before / at expiry = %s / %s; want active / expired",
						tok.Status(clk.Now().Add(tt.wantExp-time.Second)), tok.Status(clk.Now().Add(tt.wantExp)))
				}
			}
			if tt.in.Sources != nil && len(created.Sources) != 1 {
				t.Errorf("sources = %v; want the one given", created.Sources)
			}
		})
	}
}

// A create without expiresIn takes the configured default; 0 means no expiry.
func TestCreateDefaultExpiry(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	for _, def := range []time.Duration{0, 90 * 24 * time.Hour} {
		reg, err := capability.New(capability.Config{Store: st, Authority: authorityFor(t, st, clk), Now: clk.Now, DefaultExpiresIn: def})
		if err != nil {
			t.Fatal(err)
		}
		c, err := reg.Create(context.Background(), api.CreateTokenRequest{Name: "x",
			Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case def == 0 && c.ExpiresAt != nil:
			t.Errorf("no default: expiresAt = %v; want none", c.ExpiresAt)
		case def != 0 && (c.ExpiresAt == nil || !c.ExpiresAt.Equal(clk.Now().Add(def))):
			t.Errorf("default %s: expiresAt = %v", def, c.ExpiresAt)
		}
	}
}

func authorityFor(t *testing.T, st store, clk *clock) *token.Authority {
	t.Helper()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// Rotate's grace for the old signing secret: 0s to 168h, at both ends.
func TestRotateGraceLimits(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	reg := newRegistry(t, st, clk, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	c, err := reg.Create(ctx, api.CreateTokenRequest{Name: "x", RequireSignature: true,
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		grace string
		ok    bool
	}{{"0s", true}, {"168h", true}, {"168h0m1s", false}, {"-1s", false}, {"soon", false}} {
		_, err := reg.Rotate(ctx, c.ID, api.RotateTokenRequest{SigningSecret: true, Grace: tt.grace})
		if tt.ok && err != nil {
			t.Errorf("Rotate(grace %s) = %v; want accepted", tt.grace, err)
		}
		if !tt.ok && (apperr.Code(err) != apperr.Invalid || !strings.HasPrefix(apperr.Details(err), "grace")) {
			t.Errorf("Rotate(grace %s) = %v; want invalid_request about grace", tt.grace, err)
		}
	}
}
