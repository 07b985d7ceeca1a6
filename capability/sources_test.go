package capability_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/token"
)

// TestSources creates a token with source settings, rotates them, and
// checks that only their names are ever shown and each is sealed.
func TestSources(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			st := open(t, log)
			clk := testclock.New(time.Now().UTC())
			reg := newRegistry(t, st, clk, log)
			ctx := context.Background()
			const slackSecret, iftttSecret = "slack-signing-secret-0001", "ifttt-secret-0123456789abcdef0123456789"
			created, err := reg.Create(ctx, api.CreateTokenRequest{
				Name: "sources", Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret},
				Policy:  launchPolicy(),
				Sources: &api.SourcesInput{Slack: &api.SlackSource{SigningSecret: slackSecret}, IFTTT: &api.IFTTTSource{Secret: iftttSecret}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(created.Sources, []string{"ifttt", "slack"}) {
				t.Fatalf("created sources = %v; want [ifttt slack]", created.Sources)
			}
			info, _ := reg.Get(ctx, created.ID)
			rec, _ := st.Get(ctx, capability.StoreKey(created.ID))
			shown, _ := json.Marshal([]any{created, info})
			for _, raw := range []string{string(shown), string(rec.Public), string(rec.Sealed)} {
				if strings.Contains(raw, slackSecret) || strings.Contains(raw, iftttSecret) {
					t.Fatalf("a source secret is shown or stored in plain text: %s", raw)
				}
			}

			tok, err := reg.Authenticate(ctx, created.Token)
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name, source, want, wantErr string
			}{
				{name: "slack", source: api.SourceSlack, want: slackSecret},
				{name: "ifttt", source: api.SourceIFTTT, want: iftttSecret},
				{name: "twilio not configured", source: api.SourceTwilio, wantErr: apperr.Forbidden},
				{name: "unknown source", source: "github", wantErr: apperr.Forbidden},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := reg.SourceSecret(ctx, tok, tt.source)
					if tt.wantErr != "" {
						if apperr.Code(err) != tt.wantErr {
							t.Fatalf("SourceSecret(%s) = %v; want %s", tt.source, err, tt.wantErr)
						}
						return
					}
					if err != nil || string(got) != tt.want {
						t.Fatalf("SourceSecret(%s) = %d bytes, %v", tt.source, len(got), err)
					}
				})
			}

			rot, err := reg.Rotate(ctx, created.ID, api.RotateTokenRequest{Sources: &api.SourcesInput{
				Slack: &api.SlackSource{}, Twilio: &api.TwilioSource{AuthToken: "twilio-auth-token-01"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rot.Sources, []string{"ifttt", "twilio"}) {
				t.Errorf("rotated sources = %v; want [ifttt twilio] (slack removed, ifttt kept)", rot.Sources)
			}
			clk.Add(2 * time.Second) // past the cache
			tok, _ = reg.Authenticate(ctx, created.Token)
			if _, err := reg.SourceSecret(ctx, tok, api.SourceSlack); apperr.Code(err) != apperr.Forbidden {
				t.Errorf("removed slack source: SourceSecret = %v; want forbidden", err)
			}

			n := token.Nonce{ID: "delivery-1", Until: clk.Now().Add(time.Minute)}
			if err := reg.Once(ctx, n); err != nil {
				t.Fatal(err)
			}
			if err := reg.Once(ctx, n); apperr.Code(err) != apperr.SignatureReplay {
				t.Errorf("second Once = %v; want signature_replayed", err)
			}
		})
	}
}

func TestSourcesValidation(t *testing.T) {
	st := backends(t)["embedded"](t, slog.New(slog.DiscardHandler))
	reg := newRegistry(t, st, testclock.New(time.Now()), slog.New(slog.DiscardHandler))
	keys := &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	tests := []struct {
		name string
		in   api.SourcesInput
		want string
	}{
		{name: "empty slack secret", in: api.SourcesInput{Slack: &api.SlackSource{}}, want: "sources.slack.signingSecret"},
		{name: "spaces", in: api.SourcesInput{Twilio: &api.TwilioSource{AuthToken: "a b c d e f g h"}}, want: "sources.twilio.authToken"},
		{name: "short ifttt secret", in: api.SourcesInput{IFTTT: &api.IFTTTSource{Secret: "password123"}}, want: "sources.ifttt.secret"},
		{name: "mailgun ok", in: api.SourcesInput{Mailgun: &api.MailgunSource{SigningKey: "key-0123456789abcdef"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Create(context.Background(), api.CreateTokenRequest{Name: "x", Credentials: keys, Policy: launchPolicy(), Sources: &tt.in})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Create = %v", err)
				}
				return
			}
			if apperr.Code(err) != apperr.Invalid || !strings.HasPrefix(apperr.Details(err), tt.want) {
				t.Fatalf("Create = %v; want invalid_request about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "password123") || strings.Contains(err.Error(), "a b c") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}
