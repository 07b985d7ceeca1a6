package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultSlackResponseURLs returns where Slack's response_url points: its
// commercial and GovSlack hosts.
func DefaultSlackResponseURLs() []string {
	return []string{"https://hooks.slack.com/", "https://hooks.slack-gov.com/"}
}

// Slack takes "up to 5" posts to a response_url "within 30 minutes": one
// result per command, tried at most slackPostAttempts times, well inside it.
const (
	slackPostAttempts = 5
	slackPostTimeout  = 10 * time.Second
	slackFirstBackoff = time.Second
)

// ParseResponseURLPrefix checks one allowed response_url prefix. The rule,
// so that a response_url can never make spotter call an arbitrary host
// (SSRF): a prefix is an absolute https URL with a host (a path is kept as
// a path prefix); plain http is allowed only to a loopback address, for
// local tests. A response_url matches when its scheme and host:port equal
// the prefix's exactly and its path starts with the prefix's path.
func ParseResponseURLPrefix(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("response URL prefix %q: want an absolute URL such as https://hooks.slack.com/", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("response URL prefix %q: plain http only to a loopback address", s)
		}
	default:
		return nil, fmt.Errorf("response URL prefix %q: want https", s)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// responder posts results to Slack response_urls that match its prefixes.
type responder struct {
	prefixes []*url.URL
	client   *http.Client
	cfg      SourceConfig
}

func newResponder(cfg SourceConfig) *responder {
	list := cfg.SlackResponseURLs
	if len(list) == 0 {
		list = DefaultSlackResponseURLs()
	}
	r := &responder{client: cfg.HTTPClient, cfg: cfg}
	for _, s := range list {
		// Serve validates the configured list at start; a bad entry here
		// is dropped, which only narrows what may be called.
		if u, err := ParseResponseURLPrefix(s); err == nil {
			r.prefixes = append(r.prefixes, u)
		}
	}
	if r.client == nil {
		r.client = &http.Client{
			Timeout: slackPostTimeout,
			// A redirect could lead anywhere: the allowlist covers the
			// first hop only, so follow none.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return r
}

// allowed reports whether raw may be posted to.
func (r *responder) allowed(raw string) bool {
	if raw == "" || len(raw) > 2048 {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" {
		return false
	}
	for _, p := range r.prefixes {
		if u.Scheme == p.Scheme && strings.EqualFold(u.Host, p.Host) && strings.HasPrefix(u.EscapedPath(), p.EscapedPath()) {
			return true
		}
	}
	return false
}

// send posts msg, retrying a failed or throttled post with backoff (1 s,
// 2 s, 4 s, 8 s). A 4xx other than 429 will not get better and ends it.
// The URL and the message are never logged: the URL lets anyone post to
// the channel.
func (r *responder) send(ctx context.Context, requestID, raw string, msg slackMessage) {
	if !r.allowed(raw) {
		r.cfg.log().WarnContext(ctx, "slack response not posted: response_url not allowed", "request_id", requestID)
		return
	}
	body, _ := json.Marshal(msg)
	backoff := slackFirstBackoff
	var last string
	for attempt := 1; attempt <= slackPostAttempts; attempt++ {
		status, err := r.post(ctx, raw, body)
		switch {
		case err == nil && status < 300:
			return
		case err == nil && status >= 400 && status < 500 && status != http.StatusTooManyRequests:
			r.cfg.log().WarnContext(ctx, "slack response refused", "request_id", requestID, "status", status)
			return
		case err != nil:
			last = err.Error()
		default:
			last = http.StatusText(status)
		}
		if attempt == slackPostAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	r.cfg.log().WarnContext(ctx, "slack response not delivered", "request_id", requestID, "attempts", slackPostAttempts, "last_error", last)
}

func (r *responder) post(ctx context.Context, raw string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		// The error text holds the URL: keep only its kind.
		var ue *url.Error
		if errors.As(err, &ue) {
			return 0, ue.Err
		}
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
