package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Strict-Transport-Security goes on HTTPS replies (at least a year) and
// never on plain HTTP (the sandbox), over real listeners.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	cert, err := LoadOrCreateCert(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tests := map[string]struct {
		tls      *tls.Config
		client   *http.Client
		wantHSTS bool
	}{
		"https": {tls: TLSConfig(cert.Cert), client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, wantHSTS: true},
		"plain": {client: &http.Client{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e, _ := newTestServer(t, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Serve(ctx, slog.New(slog.DiscardHandler), ln, e, tt.tls, time.Second, nil) }()
			t.Cleanup(func() { cancel(); <-done })
			scheme := "http"
			if tt.tls != nil {
				scheme = "https"
			}
			base := scheme + "://" + strings.Replace(ln.Addr().String(), "127.0.0.1", "localhost", 1)
			for _, path := range []string{"/healthz", "/no-such-route"} {
				resp, err := tt.client.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got := resp.Header.Get("Strict-Transport-Security")
				if !tt.wantHSTS {
					if got != "" {
						t.Errorf("GET %s over plain HTTP: Strict-Transport-Security %q; want none", path, got)
					}
					continue
				}
				age, ok := strings.CutPrefix(got, "max-age=")
				n, err := strconv.Atoi(age)
				if !ok || err != nil || n < 365*24*3600 {
					t.Errorf("GET %s over HTTPS: Strict-Transport-Security %q; want max-age of at least a year", path, got)
				}
			}
		})
	}
}
