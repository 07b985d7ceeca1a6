package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/token"
)

// TaskReply is a task's reply, typed, and the whole of it as the server
// sent it in Raw.
type TaskReply struct {
	api.TaskReply
	Raw json.RawMessage `json:"-"`
}

// Task POSTs a task. capability is either a capability URL
// (https://…/hooks/<token>), used as it is, or a bare token, sent to
// /v1/tasks on the client's server as a bearer token. A non-empty
// signingSecret signs the body (X-Spotter-Signature); a non-empty
// idempotencyKey goes in the Idempotency-Key header.
func (c *Client) Task(ctx context.Context, capability string, body api.TaskRequest, signingSecret []byte, idempotencyKey string) (TaskReply, error) {
	capability = strings.TrimSpace(capability)
	if capability == "" {
		return TaskReply{}, fmt.Errorf("task: no capability URL or token")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return TaskReply{}, fmt.Errorf("encode task: %w", err)
	}
	cl := call{method: http.MethodPost, body: b, want: http.StatusOK, header: http.Header{}}
	if strings.Contains(capability, "://") {
		u, err := c.capabilityURL(capability)
		if err != nil {
			return TaskReply{}, err
		}
		cl.target = u
	} else {
		cl.path, cl.bearer = "/v1/tasks", capability
	}
	if idempotencyKey != "" {
		cl.header.Set(api.IdempotencyHeader, idempotencyKey)
	}
	var reply TaskReply
	cl.out, cl.outRaw = &reply, &reply.Raw
	if len(signingSecret) == 0 {
		err = c.do(ctx, cl)
		return reply, err
	}
	for attempt := 0; ; attempt++ {
		// Signed just before sending: the server allows a few minutes of
		// skew, and accepts each signature once.
		cl.header.Set(token.SignatureHeader, token.Sign(signingSecret, time.Now(), b))
		err = c.do(ctx, cl)
		// The same body signed twice within one second (a quick retry, a
		// status poll) is the same signature, which the server refuses
		// before doing anything. Signing again in the next second makes it
		// a new request; the idempotency key still makes a retried launch
		// the same launch.
		if attempt > 0 || ErrorCode(err) != "signature_replayed" {
			return reply, err
		}
		wait := time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond))
		select {
		case <-ctx.Done():
			return reply, err
		case <-time.After(wait):
		}
	}
}

// capabilityURL checks a capability URL as New checks a base URL. Errors
// never quote it: its path is the token.
func (c *Client) capabilityURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(u.Path, "/hooks/") {
		return nil, fmt.Errorf("capability URL: want https://<server>/hooks/<token> as token create printed it")
	}
	if u.Scheme == "http" && !c.insecure && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("capability URL %s: plain HTTP would send the token in the clear; use https", redactURL(u))
	}
	return u, nil
}
