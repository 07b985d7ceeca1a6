package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
	"github.com/spotter-dev/spotter/token"
)

const capToken = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0b2tfMSJ9.SECRET-SIGNATURE-PART"

// taskEcho is a task endpoint that checks what the client sent — the way
// the token arrived, the signature (with the real verifier) and the
// idempotency key — and answers a fixed launch reply. The admin API is
// tested against a real server in package main; this covers the request
// building that a server would only reject, not describe.
func taskEcho(t *testing.T, secret []byte) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fail := func(code, details string) {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"code": 401, "error": code, "details": details})
		}
		switch {
		case r.URL.Path == "/v1/tasks" && r.Header.Get("Authorization") == "Bearer "+capToken:
		case r.URL.Path == "/hooks/"+capToken && r.Header.Get("Authorization") == "":
		default:
			fail("token_invalid", "token not where expected: "+r.URL.Path)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			fail("unsupported_media_type", r.Header.Get("Content-Type"))
			return
		}
		sig := r.Header.Get(token.SignatureHeader)
		if (len(secret) > 0) != (sig != "") {
			fail("signature_invalid", "signature presence does not match the test case")
			return
		}
		if sig != "" {
			if _, err := token.VerifyBody(sig, body, [][]byte{secret}, time.Now(), 0); err != nil {
				fail("signature_invalid", err.Error())
				return
			}
		}
		var req api.TaskRequest
		if err := json.Unmarshal(body, &req); err != nil {
			fail("invalid_request", err.Error())
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"code": 200, "task": req.Task, "replayed": r.Header.Get(api.IdempotencyHeader) == "again",
			"instances": []map[string]any{{"id": "i-0abc", "type": "t3.micro", "az": "us-east-1a", "lifecycle": "spot", "state": "pending", "price": 0.0031}},
			"pools":     []map[string]any{{"type": "t3.micro", "az": "us-east-1a", "price": 0.0031}},
		})
	}))
}

func TestTask(t *testing.T) {
	secret := []byte("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	srv := taskEcho(t, secret)
	defer srv.Close()
	unsigned := taskEcho(t, nil)
	defer unsigned.Close()

	tests := []struct {
		name         string
		server       string
		capability   string
		secret       []byte
		key          string
		wantReplayed bool
	}{
		{name: "bearer token, signed", server: srv.URL, capability: capToken, secret: secret},
		{name: "capability URL, signed", server: srv.URL, capability: srv.URL + "/hooks/" + capToken, secret: secret},
		{name: "capability URL, unsigned", server: unsigned.URL, capability: unsigned.URL + "/hooks/" + capToken},
		{name: "idempotency key sent", server: srv.URL, capability: capToken, secret: secret, key: "again", wantReplayed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			one := 1
			r, err := c.Task(context.Background(), tt.capability, api.TaskRequest{Task: "launch", Count: &one, Tags: map[string]string{"a": "b"}}, tt.secret, tt.key)
			if err != nil {
				t.Fatalf("Task = %v", err)
			}
			if r.Task != "launch" || len(r.Instances) != 1 || r.Instances[0].AZ != "us-east-1a" || r.Replayed != tt.wantReplayed {
				t.Errorf("Task = %+v; want one instance in us-east-1a (from \"az\"), replayed %v", r, tt.wantReplayed)
			}
			if !strings.Contains(string(r.Raw), `"pools"`) {
				t.Errorf("Raw = %s; want the whole reply", r.Raw)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hooks/" + capToken:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"code":403,"error":"policy_denied","details":"rule maxCount: 5 > 2"}`)
		case "/v1/tasks":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>proxy error for Bearer "+capToken+"</html>")
		default:
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		}
	}))
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String()
	closed.Close()

	tests := []struct {
		name       string
		server     string
		capability string
		wantText   string // the error's whole text, or a prefix ending in "…"
		wantCode   string
		wantStatus int
	}{
		{name: "spotter error", server: srv.URL, capability: srv.URL + "/hooks/" + capToken,
			wantText: "policy_denied: rule maxCount: 5 > 2 (HTTP 403)", wantCode: "policy_denied", wantStatus: 403},
		{name: "not a spotter reply", server: srv.URL, capability: capToken,
			wantText: "unexpected_reply: Bad Gateway (text/html), not a spotter reply: is this the right server? (HTTP 502)", wantCode: "unexpected_reply", wantStatus: 502},
		{name: "redirect not followed", server: srv.URL, capability: srv.URL + "/elsewhere/hooks/" + capToken,
			wantText: "unexpected_redirect: Found (HTTP 302)", wantCode: "unexpected_redirect", wantStatus: 302},
		{name: "connection refused", server: deadURL, capability: deadURL + "/hooks/" + capToken,
			wantText: "POST " + deadURL + "/hooks/…: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.server)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Task(context.Background(), tt.capability, api.TaskRequest{Task: "status"}, nil, "")
			if err == nil {
				t.Fatal("Task succeeded; want an error")
			}
			if prefix, ok := strings.CutSuffix(tt.wantText, "…"); ok {
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("Task error = %q; want prefix %q", err, prefix)
				}
			} else if err.Error() != tt.wantText {
				t.Errorf("Task error = %q; want %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "SECRET-SIGNATURE-PART") {
				t.Errorf("Task error %q holds the capability token", err)
			}
			var ae *client.Error
			if errors.As(err, &ae) != (tt.wantCode != "") || client.ErrorCode(err) != tt.wantCode || (ae != nil && ae.Status != tt.wantStatus) {
				t.Errorf("Task error = %#v; want code %q status %d", err, tt.wantCode, tt.wantStatus)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		opts    []client.Option
		wantErr string
	}{
		{name: "plain HTTP off loopback", base: "http://spotter.example.com:8080", wantErr: "plain HTTP would send tokens in the clear"},
		{name: "not a URL", base: "spotter.example.com", wantErr: "want an absolute http(s) URL"},
		{name: "user info", base: "https://admin:pw@spotter.example.com", wantErr: "want no user info"},
		{name: "bad fingerprint", base: "https://127.0.0.1:8443", opts: []client.Option{client.WithFingerprint("AB:CD")}, wantErr: "64 hex digits"},
		{name: "missing CA file", base: "https://127.0.0.1:8443", opts: []client.Option{client.WithCAFile("/nonexistent/ca.pem")}, wantErr: "CA file"},
		{name: "loopback HTTP", base: "http://127.0.0.1:8080"},
		{name: "localhost HTTP", base: "http://localhost:8080"},
		{name: "plain HTTP when insecure", base: "http://spotter.example.com", opts: []client.Option{client.WithInsecure()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.New(tt.base, tt.opts...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New(%q) = %v", tt.base, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%q) = %v; want %q", tt.base, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("New error %q repeats the password", err)
			}
		})
	}
}

func TestTaskRefusesCleartextCapabilityURL(t *testing.T) {
	c, err := client.New("https://127.0.0.1:8443")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Task(context.Background(), "http://spotter.example.com/hooks/"+capToken, api.TaskRequest{Task: "status"}, nil, "")
	if err == nil || !strings.Contains(err.Error(), "in the clear") || strings.Contains(err.Error(), capToken) {
		t.Errorf("Task over plain HTTP = %v; want a refusal that does not quote the token", err)
	}
}

func TestAdminNeedsToken(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTokens(context.Background()); !errors.Is(err, client.ErrNoAdminToken) {
		t.Errorf("ListTokens without an admin token = %v; want ErrNoAdminToken before any request", err)
	}
}

func TestParseFingerprint(t *testing.T) {
	const hex = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
	colons := strings.Join(func() []string {
		var p []string
		for i := 0; i < len(hex); i += 2 {
			p = append(p, hex[i:i+2])
		}
		return p
	}(), ":")
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "colons", in: colons, ok: true},
		{name: "bare lower", in: strings.ToLower(hex), ok: true},
		{name: "sha256 prefix", in: "SHA256:" + hex, ok: true},
		{name: "short", in: hex[:62], ok: false},
		{name: "not hex", in: strings.Repeat("ZZ", 32), ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := client.ParseFingerprint(tt.in)
			if (err == nil) != tt.ok || (tt.ok && len(b) != 32) {
				t.Errorf("ParseFingerprint(%q) = %x, %v; want ok=%v", tt.in, b, err, tt.ok)
			}
		})
	}
}

// TestTaskResignsAReplayedSignature: the same body signed twice in one
// second is the same signature, which spotter refuses; the client signs
// again in the next second rather than fail a quick retry.
func TestTaskResignsAReplayedSignature(t *testing.T) {
	secret := []byte("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get(token.SignatureHeader)
		if _, err := token.VerifyBody(sig, body, [][]byte{secret}, time.Now(), 0); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":401,"error":"signature_invalid"}`)
			return
		}
		mu.Lock()
		replay := seen[sig]
		seen[sig] = true
		mu.Unlock()
		if replay {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"code":409,"error":"signature_replayed","details":"this signed request was already accepted"}`)
			return
		}
		io.WriteString(w, `{"code":200,"task":"status","instances":[]}`)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.Task(context.Background(), capToken, api.TaskRequest{Task: "status"}, secret, ""); err != nil {
			t.Fatalf("Task #%d = %v; want a fresh signature each time", i+1, err)
		}
	}
	if len(seen) != 3 {
		t.Errorf("server saw %d distinct signatures; want 3", len(seen))
	}
}

// TestTransportErrorNamesTheURL checks the URL in a transport error is the
// one requested, slash included: a certificate error is where people read it.
func TestTransportErrorNamesTheURL(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	tests := []struct {
		name   string
		server string
		want   string
	}{
		{name: "base without a path", server: srv.URL, want: "GET " + srv.URL + "/v1/tokens: "},
		{name: "base with a trailing slash", server: srv.URL + "/", want: "GET " + srv.URL + "/v1/tokens: "},
		{name: "base under a prefix", server: srv.URL + "/spotter", want: "GET " + srv.URL + "/spotter/v1/tokens: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.server, client.WithAdminToken("spa_not-a-real-admin-token-0123"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListTokens(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("ListTokens against an untrusted certificate = %v; want prefix %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("ListTokens error = %v; want the certificate named as the cause", err)
			}
		})
	}
}

// TestAdminRepliesWithoutCode: the server's "code" is how the reply was
// sent, not what it says, so what the client returns (and the CLI prints
// with --json) leaves it out, as it did before the replies were api's.
func TestAdminRepliesWithoutCode(t *testing.T) {
	replies := map[string]string{
		"POST /v1/tokens":              `{"code":201,"id":"tok_1","name":"n","status":"active","token":"t","url":"u"}`,
		"GET /v1/tokens":               `{"code":200,"tokens":[{"id":"tok_1","status":"active"}]}`,
		"DELETE /v1/tokens/tok_1":      `{"code":200,"id":"tok_1","revokedAt":"2026-11-30T12:00:00Z","status":"revoked"}`,
		"POST /v1/tokens/tok_1/rotate": `{"code":200,"id":"tok_1","status":"active","signingSecret":"s"}`,
		"POST /v1/tokens/tok_1/unlock": `{"code":200,"id":"tok_1","status":"active","wasLocked":true,"mfaLock":{"locked":false,"failures":0,"lockouts":0}}`,
		"POST /v1/keys/rotate":         `{"code":200,"keyId":"k2"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := replies[r.Method+" "+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && r.URL.Path == "/v1/tokens" {
			w.WriteHeader(http.StatusCreated)
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, client.WithAdminToken("admin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() (any, error){
		"create": func() (any, error) { return c.CreateToken(ctx, api.CreateTokenRequest{Name: "n"}) },
		"list":   func() (any, error) { return c.ListTokensPage(ctx, client.ListTokensOptions{}) },
		"revoke": func() (any, error) { return c.RevokeToken(ctx, "tok_1") },
		"rotate": func() (any, error) { return c.RotateToken(ctx, "tok_1", api.RotateTokenRequest{SigningSecret: true}) },
		"unlock": func() (any, error) { return c.UnlockToken(ctx, "tok_1") },
		"keys":   func() (any, error) { return c.RotateKeys(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			out, err := call()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"code"`) {
				t.Errorf("%s returned %s; want no code", name, b)
			}
			if !strings.Contains(string(b), `"id"`) && !strings.Contains(string(b), `"keyId"`) && !strings.Contains(string(b), `"tokens"`) {
				t.Errorf("%s returned %s; want the reply's content", name, b)
			}
		})
	}
}
