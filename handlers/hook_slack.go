package handlers

import (
	"context"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/command"
	"github.com/spotter-dev/spotter/internal/safe"
	"github.com/spotter-dev/spotter/task"
	"github.com/spotter-dev/spotter/token"
)

// Slack wants an answer to a slash command within 3 s; launches take
// longer. So every task runs in the background on a context of its own,
// and the handler waits at most slackInlineBudget for it: a quick result is
// the reply itself, a slow one is acknowledged and posted to response_url.
const (
	slackInlineBudget = 1500 * time.Millisecond
	slackJobTimeout   = 5 * time.Minute
	maxSlackJobs      = 16 // background tasks at once; more are refused, not queued
)

var triggerIDRe = regexp.MustCompile(`^[0-9A-Za-z.]{1,128}$`)

// slackMessage is a slash-command reply or a response_url post.
type slackMessage struct {
	ResponseType string       `json:"response_type"`
	Text         string       `json:"text"`
	Blocks       []slackBlock `json:"blocks,omitempty"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackMsg is an ephemeral message (seen only by the person who typed the
// command) or, with inChannel, one the whole channel sees.
func slackMsg(inChannel bool, text string) slackMessage {
	m := slackMessage{ResponseType: "ephemeral", Text: text}
	if inChannel {
		m.ResponseType = "in_channel"
	}
	if text != "" {
		m.Blocks = []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "```" + truncate(text, 2900) + "```"}}}
	}
	return m
}

// slackOutcome is the message for a finished task: results go to the
// channel, refusals and faults only to the person.
func slackOutcome(g task.Guarded, res task.Result, err error) slackMessage {
	if err != nil {
		return slackMsg(false, humanError(err, g.RequestID))
	}
	return slackMsg(true, summarize(g, res))
}

// slackSource verifies X-Slack-Signature over the raw body (±300 s, each
// signature accepted once) before the form is parsed.
func slackSource(d TaskDeps, post *responder) hook {
	return hook{signature: "X-Slack-Signature", timestamp: "X-Slack-Request-Timestamp", Source: task.Source{
		Name: api.SourceSlack,
		Verify: func(ctx context.Context, tok capability.Token, r task.Request) (task.Proof, error) {
			secret, err := d.Tokens.SourceSecret(ctx, tok, api.SourceSlack)
			if err != nil {
				return task.Proof{}, err
			}
			n, err := token.VerifySlack(secret, r.Timestamp, r.Signature, r.Body, d.Sources.now())
			clear(secret)
			if err != nil {
				return task.Proof{}, err
			}
			if err := d.Tokens.Once(ctx, n); err != nil {
				return task.Proof{}, err
			}
			fields, err := formFields(r.ContentType, r.Body)
			if err != nil {
				return task.Proof{}, err
			}
			p := task.Proof{Delivery: n.ID, Fields: fields}
			if t := fields["trigger_id"]; triggerIDRe.MatchString(t) {
				p.Delivery = t
			}
			return p, nil
		},
		Decode: func(_ []byte, p task.Proof) (task.Task, error) {
			if p.Fields["ssl_check"] == "1" {
				return task.Task{}, &task.Notice{} // Slack checking the certificate
			}
			t, err := commandTask(p.Fields["text"])
			if err != nil {
				return t, err
			}
			if !post.allowed(p.Fields["response_url"]) {
				return task.Task{}, apperr.New(apperr.Invalid, "this Slack request's response_url is not one spotter may post to")
			}
			return t, nil
		},
	}}
}

// SlackHook serves POST /hooks/:token/slack, a Slack slash command.
func SlackHook(d TaskDeps) echo.HandlerFunc {
	post := newResponder(d.Sources)
	jobs := make(chan struct{}, maxSlackJobs)
	src := slackSource(d, post)
	src.Reserve = func() (func(), error) {
		select {
		case jobs <- struct{}{}:
			return func() { <-jobs }, nil
		default:
			return nil, apperr.New(apperr.RateLimited, "spotter is busy with other Slack tasks; try again in a minute")
		}
	}
	return func(c echo.Context) error {
		g, err := d.guard(c, c.Param("token"), src)
		if err != nil {
			if !g.Verified {
				return err // not Slack, or a replay: a plain HTTP error
			}
			if n, ok := task.AsNotice(err); ok && n.Text == "" {
				return c.NoContent(http.StatusOK)
			}
			return c.JSON(http.StatusOK, slackMsg(false, humanError(err, g.RequestID)))
		}
		h := &handoff{ch: make(chan slackMessage, 1)}
		respURL := g.Fields["response_url"]
		// Not the request's context: the task must finish (and be audited)
		// after the reply is sent, but within slackJobTimeout.
		bg := context.WithoutCancel(c.Request().Context())
		d.Background.Go(func() {
			defer g.Release()
			if msg := d.slackResult(bg, g); !h.deliver(msg) {
				post.send(bg, g.RequestID, respURL, msg)
			}
		})
		timer := time.NewTimer(slackInlineBudget)
		defer timer.Stop()
		select {
		case msg := <-h.ch:
			return c.JSON(http.StatusOK, msg)
		case <-timer.C:
		}
		if msg, ok := h.giveUp(); ok {
			return c.JSON(http.StatusOK, msg) // finished just as the budget ran out
		}
		return c.JSON(http.StatusOK, slackMsg(false, "Working on it: "+describe(g)+". The result will follow here."))
	}
}

// slackResult runs a Slack task in the background and words its outcome.
// Whatever panics (the task is already made safe by Execute; this covers
// the wording) becomes the internal-error message, so the person who typed
// the command hears of it by the reply or the response_url, like any 5xx.
func (d TaskDeps) slackResult(ctx context.Context, g task.Guarded) (msg slackMessage) {
	var err error
	defer func() {
		if err != nil {
			msg = slackOutcome(g, task.Result{}, err)
		}
	}()
	defer safe.Recover(ctx, d.Sources.log(), "slack task", &err, "request_id", g.RequestID, "token_id", g.Token.ID)
	jctx, cancel := context.WithTimeout(ctx, slackJobTimeout)
	defer cancel()
	res, terr := d.Pipeline.Execute(jctx, g)
	return slackOutcome(g, res, terr)
}

// handoff gives a background result to exactly one of the waiting handler
// (the inline reply) or the response_url poster.
type handoff struct {
	mu     sync.Mutex
	gaveUp bool
	ch     chan slackMessage // buffered: deliver never blocks
}

// deliver hands msg to the handler, or reports that it stopped waiting.
func (h *handoff) deliver(msg slackMessage) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gaveUp {
		return false
	}
	h.ch <- msg
	return true
}

// giveUp stops the handler waiting, returning a result delivered meanwhile.
func (h *handoff) giveUp() (slackMessage, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gaveUp = true
	select {
	case msg := <-h.ch:
		return msg, true
	default:
		return slackMessage{}, false
	}
}

// describe names a task in the command language, without its MFA code.
func describe(g task.Guarded) string {
	c := command.Command{Task: g.Req.Task, InstanceTypes: g.Task.InstanceTypes, Preset: g.Task.Preset,
		Region: g.Region, TTL: g.Req.TTL, InstanceIDs: g.Task.InstanceIDs, All: g.Task.All}
	if g.Task.Count != nil {
		c.Count = *g.Task.Count
	}
	return c.String()
}
