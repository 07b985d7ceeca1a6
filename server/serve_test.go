package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeGracefulTLS serves real TLS, starts a slow request, cancels the
// context as SIGTERM would, and checks the request still completes.
func TestServeGracefulTLS(t *testing.T) {
	ss, err := LoadOrCreateCert(t.TempDir(), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		errc <- Serve(ctx, slog.New(slog.DiscardHandler), ln, mux, TLSConfig(ss.Cert), 5*time.Second, func(a net.Addr) { addrc <- a })
	}()
	addr := <-addrc

	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(ss.Cert.Certificate[0])
	pool.AddCert(leaf)
	tests := []struct {
		name    string
		max     uint16
		wantErr bool
	}{
		{name: "TLS 1.1 refused", max: tls.VersionTLS11, wantErr: true},
		{name: "TLS 1.2 accepted", max: tls.VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tt.max})
			if (err != nil) != tt.wantErr {
				t.Fatalf("dial with max %x: err = %v; wantErr %v", tt.max, err, tt.wantErr)
			}
			if conn != nil {
				conn.Close()
			}
		})
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := make(chan string, 1)
	go func() {
		resp, err := client.Get("https://" + addr.String() + "/slow")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	if got := <-body; got != "done" {
		t.Errorf("in-flight request during shutdown got %q; want done", got)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve returned %v after a graceful shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("listener still open after shutdown")
	}
}
