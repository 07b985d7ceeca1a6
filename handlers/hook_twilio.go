package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// SMS bounds: one GSM-7 segment is 160 characters. A longer reply is cut
// at line or word boundaries into at most smsMaxMessages messages, so a
// status of many instances costs a few texts, not dozens.
const (
	smsSegment     = 160
	smsMaxMessages = 4
)

var messageSidRe = regexp.MustCompile(`^[A-Z]{2}[0-9a-fA-F]{32}$`)

// twilioSource verifies X-Twilio-Signature over the public URL and the
// sorted form fields, then remembers the MessageSid: Twilio signs no
// timestamp, so the id is the only thing that stops a replay.
func twilioSource(d TaskDeps) hook {
	return hook{signature: "X-Twilio-Signature", Source: task.Source{
		Name: api.SourceTwilio,
		Verify: func(ctx context.Context, tok capability.Token, r task.Request) (task.Proof, error) {
			secret, err := d.Tokens.SourceSecret(ctx, tok, api.SourceTwilio)
			if err != nil {
				return task.Proof{}, err
			}
			defer clear(secret)
			if d.Sources.PublicURL == "" {
				return task.Proof{}, errors.New("twilio: no public URL configured") // serve always sets one
			}
			params, err := url.ParseQuery(string(r.Body))
			if err != nil {
				return task.Proof{}, apperr.New(apperr.Invalid, "the form body is malformed")
			}
			full := requestURL(d.Sources.PublicURL, r.URI)
			if err := token.VerifyTwilio(secret, full, params, r.Signature); err != nil {
				return task.Proof{}, err
			}
			sid := params.Get("MessageSid")
			if sid == "" {
				sid = params.Get("SmsSid")
			}
			if !messageSidRe.MatchString(sid) {
				return task.Proof{}, apperr.New(apperr.Invalid, "not an SMS webhook: MessageSid is missing")
			}
			sum := sha256.Sum256([]byte("twilio\x00" + tok.ID + "\x00" + sid))
			n := token.Nonce{ID: hex.EncodeToString(sum[:]), Until: d.Sources.now().Add(capability.MaxDeliveryMemory)}
			if err := d.Tokens.Once(ctx, n); err != nil {
				return task.Proof{}, err
			}
			return task.Proof{Delivery: sid, Fields: map[string]string{"Body": params.Get("Body")}}, nil
		},
		Decode: func(_ []byte, p task.Proof) (task.Task, error) { return commandTask(p.Fields["Body"]) },
	}}
}

// TwilioHook serves POST /hooks/:token/twilio, an incoming SMS, and
// answers in TwiML.
func TwilioHook(d TaskDeps) echo.HandlerFunc {
	src := twilioSource(d)
	return func(c echo.Context) error {
		g, err := d.guard(c, c.Param("token"), src)
		if err != nil {
			if !g.Verified {
				return err
			}
			return twiml(c, humanError(err, g.RequestID))
		}
		res, err := d.Pipeline.Execute(c.Request().Context(), g)
		if err != nil {
			return twiml(c, humanError(err, g.RequestID))
		}
		return twiml(c, summarize(g, res))
	}
}

// twiml replies with one <Message> per SMS-sized part of text.
func twiml(c echo.Context, text string) error {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Response>")
	for _, m := range smsParts(text) {
		b.WriteString("<Message>")
		b.WriteString(xmlText(m))
		b.WriteString("</Message>")
	}
	b.WriteString("</Response>")
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(b.String()))
}

// xmlText escapes a text node, leaving quotes readable, and drops what XML
// cannot carry (control characters).
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\n' || r == '\t' || (r >= 0x20 && r < 0xFFFE):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// smsParts cuts text into messages of at most smsSegment characters,
// preferring line then word boundaries, in GSM-7 friendly characters.
func smsParts(text string) []string {
	text = strings.NewReplacer("…", "...", "’", "'", "“", `"`, "”", `"`).Replace(strings.TrimSpace(text))
	var parts []string
	cur := ""
	flush := func() {
		if cur != "" {
			parts = append(parts, cur)
			cur = ""
		}
	}
	for _, line := range strings.Split(text, "\n") {
		sep := "\n" // keep the reply's lines apart when they share a message
		for _, w := range strings.Fields(line) {
			for len(w) > smsSegment { // a word longer than a message
				flush()
				parts = append(parts, w[:smsSegment])
				w = w[smsSegment:]
			}
			switch {
			case cur == "":
				cur = w
			case len(cur)+1+len(w) <= smsSegment:
				cur += sep + w
			default:
				flush()
				cur = w
			}
			sep = " "
		}
	}
	flush()
	if len(parts) > smsMaxMessages {
		more := " (more: reply status)"
		last := parts[smsMaxMessages-1]
		if len(last)+len(more) > smsSegment {
			last = last[:smsSegment-len(more)]
		}
		parts = append(parts[:smsMaxMessages-1], last+more)
	}
	if len(parts) == 0 {
		parts = []string{"OK"}
	}
	return parts
}
