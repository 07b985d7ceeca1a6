package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/command"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// mailgunWindow is how old a Mailgun timestamp may be (either way): the
// issue asks for 5 min; Rails' ActionMailbox uses 2.
const mailgunWindow = 5 * time.Minute

// mailgunSource verifies the timestamp+token HMAC Mailgun adds to an
// inbound route's form and accepts each token once. The signature covers
// only those two fields, not the message: the capability token in the URL
// and an MFA code in the message are what make a mail a command.
func mailgunSource(d TaskDeps) hook {
	return hook{Source: task.Source{
		Name: api.SourceMailgun,
		Verify: func(ctx context.Context, tok capability.Token, r task.Request) (task.Proof, error) {
			key, err := d.Tokens.SourceSecret(ctx, tok, api.SourceMailgun)
			if err != nil {
				return task.Proof{}, err
			}
			defer clear(key)
			fields, err := formFields(r.ContentType, r.Body)
			if err != nil {
				return task.Proof{}, err
			}
			n, err := token.VerifyMailgun(key, fields["timestamp"], fields["token"], fields["signature"], d.Sources.now(), mailgunWindow)
			if err != nil {
				return task.Proof{}, err
			}
			if err := d.Tokens.Once(ctx, n); err != nil {
				return task.Proof{}, err
			}
			return task.Proof{Delivery: fields["token"], Fields: fields}, nil
		},
		Decode: func(_ []byte, p task.Proof) (task.Task, error) {
			text := p.Fields["stripped-text"]
			if strings.TrimSpace(text) == "" {
				text = p.Fields["body-plain"]
			}
			return commandTask(mailCommand(p.Fields["subject"], text))
		},
	}}
}

// mailCommand picks the command from a mail: the subject if it is one
// ("Re: launch 2" counts), else the first line of the body that is not
// quoted or empty, before any signature.
//
// Linear in the size of the mail: a subject of thousands of "Re: " once cost
// seconds, each prefix cut lower-casing the whole rest again.
func mailCommand(subject, body string) string {
	s := strings.TrimSpace(subject)
	for cut := true; cut; {
		cut = false
		for _, p := range []string{"re:", "fwd:", "fw:", "aw:", "wg:"} {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				s, cut = strings.TrimLeftFunc(s[len(p):], unicode.IsSpace), true
				break
			}
		}
	}
	if c, err := command.Parse(s); err == nil && c.Task != command.Help {
		return s
	}
	i := 0
	for line := range strings.Lines(body) {
		if i++; i > 201 {
			break
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "--" || line == "-- ":
			return s
		case line == "" || strings.HasPrefix(line, ">"):
			continue
		}
		return line
	}
	return s
}

// MailgunHook serves POST /hooks/:token/mailgun, a Mailgun inbound route
// (forward), and answers in JSON: mailing a reply is not spotter's job.
func MailgunHook(d TaskDeps) echo.HandlerFunc {
	return d.serveJSONSource(mailgunSource(d))
}

// serveJSONSource serves a source whose reply is spotter's JSON, with a
// "text" line for people; help is a 200 with the usage.
func (d TaskDeps) serveJSONSource(src hook) echo.HandlerFunc {
	return func(c echo.Context) error {
		g, err := d.guard(c, c.Param("token"), src)
		if err != nil {
			if n, ok := task.AsNotice(err); ok {
				out := api.Notice{Code: http.StatusOK, Text: n.Text, RequestID: g.RequestID}
				return c.JSON(out.Code, out)
			}
			return err
		}
		res, err := d.Pipeline.Execute(c.Request().Context(), g)
		if err != nil {
			return err
		}
		out := d.replyBody(g, res)
		out.Code, out.Text = http.StatusOK, summarize(g, res)
		return c.JSON(out.Code, out)
	}
}
