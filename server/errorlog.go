package server

import (
	"context"
	"log"
	"log/slog"
	"net"
	"strings"

	"github.com/spotter-dev/spotter/internal/logthrottle"
)

// handshakeErrorPrefix starts the line net/http logs for each connection
// whose TLS handshake fails: a scanner or a plain-HTTP client can make one
// per connection, as fast as it can connect.
const handshakeErrorPrefix = "http: TLS handshake error from "

// serverErrorLog is http.Server's ErrorLog: its lines go to log, with failed
// TLS handshakes held to one line per client address and interval (plus a
// count when the interval ends), like refused requests.
type serverErrorLog struct {
	log        *slog.Logger
	handshakes *logthrottle.Limiter[string]
}

func newServerErrorLog(l *slog.Logger) *serverErrorLog {
	return &serverErrorLog{log: l, handshakes: &logthrottle.Limiter[string]{Emit: func(s logthrottle.Summary[string]) {
		attrs := []slog.Attr{slog.Int("suppressed", s.Suppressed), slog.Time("since", s.Since)}
		if s.Overflow {
			attrs = append(attrs, slog.Int("sources", s.Keys))
		} else {
			attrs = append(attrs, slog.String("client", s.Key))
		}
		l.LogAttrs(context.Background(), slog.LevelWarn, "TLS handshake errors not logged", attrs...)
	}}}
}

func (w *serverErrorLog) logger() *log.Logger { return log.New(w, "", 0) }

func (w *serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	if rest, ok := strings.CutPrefix(msg, handshakeErrorPrefix); ok {
		addr, _, _ := strings.Cut(rest, ": ")
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if !w.handshakes.Allow(host) {
			return len(p), nil
		}
	}
	w.log.LogAttrs(context.Background(), slog.LevelWarn, msg)
	return len(p), nil
}
