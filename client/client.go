// Package client is a small typed client for spotter's HTTP API: the admin
// API (tokens and signing keys) and tasks. Its requests and replies are
// package api's, the types the server writes and reads.
//
// It verifies spotter's certificate through the system roots, a CA file, or
// a pinned SHA-256 fingerprint, and skips verification only when asked to
// with [WithInsecure]. It keeps the admin token, capability tokens and
// secrets out of every error it returns: a capability URL carries its token
// in the path, so transport errors name the URL with that part elided.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/api"
)

// DefaultTimeout bounds one request when [WithTimeout] is not given.
const DefaultTimeout = 60 * time.Second

// maxReply bounds what is read from a reply: spotter's largest reply (a
// token list, or a create with a QR PNG) is far smaller, and a client should
// not buffer whatever a misconfigured proxy sends.
const maxReply = 8 << 20

// ErrNoAdminToken is returned by the admin methods of a client built without
// [WithAdminToken], before anything is sent.
var ErrNoAdminToken = errors.New("no admin token")

// Error is an error reply from spotter:
// {"code": <HTTP status>, "error": "<stable_code>", "details": "…"}.
// Its text is "<error>: <details> (HTTP <status>)". spotter promises that
// details never hold a secret, so the text is safe to print.
type Error struct {
	Status  int    // HTTP status, the reply's "code"
	Code    string // stable snake_case code, the reply's "error": scripts switch on it
	Details string // what a person can act on
}

func (e *Error) Error() string {
	if e == nil {
		return "<nil>"
	}
	if e.Details == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Details, e.Status)
}

// ErrorCode returns the stable code of the first *Error in err's chain, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Code
	}
	return ""
}

// Client talks to one spotter server. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	hc         *http.Client
	adminToken string
	userAgent  string
	insecure   bool
}

// settings collects the options before New builds the client from them.
type settings struct {
	adminToken  string
	caFile      string
	fingerprint []byte
	insecure    bool
	timeout     time.Duration
	userAgent   string
}

// Option configures a Client.
type Option func(*settings) error

// WithAdminToken sets the bearer token for the admin API.
func WithAdminToken(tok string) Option {
	return func(s *settings) error {
		s.adminToken = strings.TrimSpace(tok)
		return nil
	}
}

// WithCAFile trusts only the PEM certificates in path — for spotter's
// self-signed certificate, the tls-cert.pem in its data dir. The system roots
// are not consulted when a CA file is given.
func WithCAFile(path string) Option {
	return func(s *settings) error {
		s.caFile = path
		return nil
	}
}

// WithFingerprint pins the server's leaf certificate by its SHA-256, written
// as hex with or without colons (as `spotter serve` logs it). A pinned
// certificate is accepted whatever its chain and names; any other is refused.
func WithFingerprint(fp string) Option {
	return func(s *settings) error {
		b, err := ParseFingerprint(fp)
		if err != nil {
			return err
		}
		s.fingerprint = b
		return nil
	}
}

// WithInsecure turns certificate verification off and allows plain HTTP to
// hosts other than loopback. Callers should warn whoever asked for it.
func WithInsecure() Option {
	return func(s *settings) error {
		s.insecure = true
		return nil
	}
}

// WithTimeout bounds each request, reply included. Zero means no bound.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return fmt.Errorf("timeout %v: want zero or more", d)
		}
		s.timeout = d
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		s.userAgent = ua
		return nil
	}
}

// New returns a client for the spotter server at baseURL
// ("https://spotter.example.com:8443", optionally with a path prefix).
//
// Plain HTTP is allowed only to a loopback host (the sandbox), or with
// [WithInsecure]: elsewhere it would send tokens in the clear.
func New(baseURL string, opts ...Option) (*Client, error) {
	s := settings{timeout: DefaultTimeout, userAgent: "spotter-client"}
	for _, o := range opts {
		if err := o(&s); err != nil {
			return nil, err
		}
	}
	base, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	if base.Scheme == "http" && !s.insecure && !isLoopback(base.Hostname()) {
		return nil, fmt.Errorf("server %s: plain HTTP would send tokens in the clear; use https (plain HTTP is for the loopback sandbox)", redactURL(base))
	}
	tlsConf, err := tlsConfig(s)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	hc := &http.Client{
		Transport: tr,
		Timeout:   s.timeout,
		// An API reply is never a redirect; following one could carry a
		// bearer token to a host the user did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Client{base: base, hc: hc, adminToken: s.adminToken, userAgent: s.userAgent, insecure: s.insecure}, nil
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// Not err's text: url.Parse quotes the input, which may be a capability URL.
		return nil, fmt.Errorf("server URL: want an absolute http(s) URL such as https://127.0.0.1:8443")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %s: want no user info, query or fragment", redactURL(u))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// call is one request: a path under the base URL or an absolute URL, an
// optional bearer token and JSON body, and the status that means success.
type call struct {
	method string
	path   string   // under the base URL; ignored when target is set
	target *url.URL // absolute URL (a capability URL)
	bearer string
	body   []byte // JSON, or nil
	header http.Header
	want   int
	out    any              // decoded from a successful reply when non-nil
	outRaw *json.RawMessage // the successful reply's bytes, when non-nil
}

func (c *Client) admin(ctx context.Context, method, path string, in, out any, want int) error {
	if c.adminToken == "" {
		return ErrNoAdminToken
	}
	cl := call{method: method, path: path, bearer: c.adminToken, out: out, want: want}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		cl.body = b
	}
	return c.do(ctx, cl)
}

func (c *Client) do(ctx context.Context, cl call) error {
	u := cl.target
	if u == nil {
		u = c.base.JoinPath(cl.path)
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		// Not err itself: a *url.Error would quote the URL, token and all.
		return fmt.Errorf("%s %s: cannot build the request", cl.method, redactURL(u))
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+cl.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error quotes the full URL, token and all: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", cl.method, redactURL(u), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return fmt.Errorf("%s %s: read reply: %w", cl.method, redactURL(u), err)
	}
	if resp.StatusCode != cl.want {
		return replyError(resp, raw)
	}
	if cl.outRaw != nil {
		*cl.outRaw = raw
	}
	if cl.out != nil {
		if err := json.Unmarshal(raw, cl.out); err != nil {
			return fmt.Errorf("%s %s: decode reply: %w", cl.method, redactURL(u), err)
		}
	}
	return nil
}

// replyError turns an unexpected reply into an *Error. A body that is not
// spotter's error JSON (a proxy's page, say) is not echoed: only its status.
func replyError(resp *http.Response, raw []byte) error {
	var eb api.ErrorBody
	if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
		return &Error{Status: resp.StatusCode, Code: eb.Error, Details: eb.Details}
	}
	code := "unexpected_reply"
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		code = "unexpected_redirect"
	}
	details := http.StatusText(resp.StatusCode)
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		details += " (" + ct + "), not a spotter reply: is this the right server?"
	}
	return &Error{Status: resp.StatusCode, Code: code, Details: details}
}

// redactURL renders u for messages: scheme, host and path, with the token of
// a capability URL (/hooks/<token>[/<source>]) elided and no query.
func redactURL(u *url.URL) string {
	p := u.EscapedPath()
	if i := strings.Index(p, "/hooks/"); i >= 0 {
		rest := p[i+len("/hooks/"):]
		tail := ""
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			tail = rest[j:]
		}
		p = p[:i] + "/hooks/…" + tail
	}
	// JoinPath on a base URL without a path leaves the path relative
	// ("v1/tokens"); url.URL.String adds the slash, and so must this.
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return u.Scheme + "://" + u.Host + p
}
