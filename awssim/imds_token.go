package awssim

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// imdsTokens are the IMDSv2 session tokens the sim has handed out, with
// their expiry: a GET that sends one must send a live one (EC2 answers 401
// otherwise); a GET without one is IMDSv1, which the sim allows.
type imdsTokens struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// serveIMDSToken answers PUT /_sim/imds/<id>/latest/api/token with
// X-aws-ec2-metadata-token-ttl-seconds 1-21600, as EC2 does.
func (s *Sim) serveIMDSToken(w http.ResponseWriter, r *http.Request, rest string) {
	if _, path, _ := strings.Cut(rest, "/"); path != "latest/api/token" {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
	if err != nil || ttl < 1 || ttl > 21600 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tok := rand.Text()
	s.imds.mu.Lock()
	if s.imds.m == nil {
		s.imds.m = map[string]time.Time{}
	}
	now := s.now()
	for k, exp := range s.imds.m {
		if !now.Before(exp) {
			delete(s.imds.m, k)
		}
	}
	s.imds.m[tok] = now.Add(time.Duration(ttl) * time.Second)
	s.imds.mu.Unlock()
	w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(tok))
}

// imdsTokenOK reports whether a GET may be answered: no token (IMDSv1) or
// a live one.
func (s *Sim) imdsTokenOK(r *http.Request) bool {
	tok := r.Header.Get("X-aws-ec2-metadata-token")
	if tok == "" {
		return true
	}
	s.imds.mu.Lock()
	defer s.imds.mu.Unlock()
	exp, ok := s.imds.m[tok]
	return ok && s.now().Before(exp)
}
