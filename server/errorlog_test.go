package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Connections that fail the TLS handshake, as a scanner's do, write one
// log line per client and interval, and a count at shutdown; not one each.
func TestHandshakeErrorFloodIsBounded(t *testing.T) {
	const n = 200
	cert, err := LoadOrCreateCert(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	e, _ := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, log, ln, e, TLSConfig(cert.Cert), time.Second, nil) }()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// Not a TLS record, not HTTP: the handshake fails at once.
		if _, err := c.Write([]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09}); err != nil {
			t.Fatal(err)
		}
		// The server logs, then closes: EOF means the line is written.
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	if got := strings.Count(logs.String(), "TLS handshake error from 127.0.0.1"); got != 1 {
		t.Fatalf("%d handshake error lines for %d failed handshakes; want 1:\n%s", got, n, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := `"msg":"TLS handshake errors not logged","suppressed":199,`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %s:\n%s", want, logs.String())
	}
	if !strings.Contains(logs.String(), `"client":"127.0.0.1"`) {
		t.Errorf("the count does not name the client:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
