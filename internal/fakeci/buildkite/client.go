package buildkite

import "net/http"

// SetWebhookClient makes the webhook's deliveries go through c, as a
// receiver on HTTPS with its own certificate (spotter serve's self-signed
// one) needs a client that trusts it. Call it after SetWebhook.
func (s *Server) SetWebhookClient(c *http.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hook != nil {
		s.hook.client = c
	}
}
