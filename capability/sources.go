package capability

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/token"
)

// sourceSecrets is the sealed part of the source settings.
type sourceSecrets struct {
	Slack   string `json:"slack,omitempty"`
	Twilio  string `json:"twilio,omitempty"`
	Mailgun string `json:"mailgun,omitempty"`
	IFTTT   string `json:"ifttt,omitempty"`
}

// configured lists the sources with a secret, for Info: names only.
func (s sourceSecrets) configured() []string {
	var out []string
	for _, p := range []struct{ name, secret string }{
		{api.SourceIFTTT, s.IFTTT}, {api.SourceMailgun, s.Mailgun}, {api.SourceSlack, s.Slack}, {api.SourceTwilio, s.Twilio},
	} {
		if p.secret != "" {
			out = append(out, p.name)
		}
	}
	return out
}

func (s sourceSecrets) get(source string) string {
	switch source {
	case api.SourceSlack:
		return s.Slack
	case api.SourceTwilio:
		return s.Twilio
	case api.SourceMailgun:
		return s.Mailgun
	case api.SourceIFTTT:
		return s.IFTTT
	}
	return ""
}

// validSecret checks a provider secret's shape only. Its value is never
// described: it may be pasted into the wrong field.
func validSecret(field, s string, minLen int) error {
	if n := utf8.RuneCountInString(s); n < minLen || n > 256 || strings.ContainsAny(s, " \t\r\n\x00") {
		return bad(field, "must be %d-256 characters without spaces", minLen)
	}
	return nil
}

// applySources validates in and writes it over cur. removing permits an
// empty secret, which deletes the source (rotate); create requires a value.
func applySources(in *api.SourcesInput, cur *sourceSecrets, removing bool) error {
	if in == nil {
		return nil
	}
	for _, s := range []struct {
		given bool
		field string
		value string
		min   int
		dst   *string
	}{
		{in.Slack != nil, "sources.slack.signingSecret", value(in.Slack, func(v *api.SlackSource) string { return v.SigningSecret }), 8, &cur.Slack},
		{in.Twilio != nil, "sources.twilio.authToken", value(in.Twilio, func(v *api.TwilioSource) string { return v.AuthToken }), 8, &cur.Twilio},
		{in.Mailgun != nil, "sources.mailgun.signingKey", value(in.Mailgun, func(v *api.MailgunSource) string { return v.SigningKey }), 8, &cur.Mailgun},
		// IFTTT's secret is the only thing an applet proves: demand entropy.
		{in.IFTTT != nil, "sources.ifttt.secret", value(in.IFTTT, func(v *api.IFTTTSource) string { return v.Secret }), 32, &cur.IFTTT},
	} {
		if !s.given {
			continue
		}
		if s.value == "" && removing {
			*s.dst = ""
			continue
		}
		if err := validSecret(s.field, s.value, s.min); err != nil {
			return err
		}
		*s.dst = s.value
	}
	return nil
}

func value[T any](v *T, get func(*T) string) string {
	if v == nil {
		return ""
	}
	return get(v)
}

// SourceSecret returns the token's secret for source, for one check. A
// source without settings is refused (403) before anything is decrypted.
func (r *Registry) SourceSecret(ctx context.Context, t Token, source string) ([]byte, error) {
	if !slices.Contains(t.Sources, source) {
		return nil, apperr.New(apperr.Forbidden, "this token has no %s settings; add them with token rotate (sources.%s)", source, source)
	}
	sec, err := r.secrets(ctx, t)
	if err != nil {
		return nil, err
	}
	s := sec.Sources.get(source)
	if s == "" {
		return nil, apperr.New(apperr.Forbidden, "this token has no %s settings; add them with token rotate (sources.%s)", source, source)
	}
	return []byte(s), nil
}

// Once records a provider delivery (a Slack signature, a Mailgun token, a
// Twilio MessageSid) until n.Until, across replicas sharing the store, and
// refuses it the second time with apperr.SignatureReplay.
func (r *Registry) Once(ctx context.Context, n token.Nonce) error {
	if n.Until.IsZero() {
		n.Until = r.now().Add(token.DefaultWindow)
	}
	return token.ReplayGuard{Store: markerStore{r.store}}.Check(ctx, n)
}

// MaxDeliveryMemory is how long a delivery id without a signed timestamp (a
// Twilio MessageSid) is remembered: a replay after it would be accepted
// again, so keep it long.
const MaxDeliveryMemory = 30 * 24 * time.Hour
