package app

import (
	"strings"
	"testing"
	"time"
)

// TestValidate: each setting is checked, in order, with the error a person
// can act on; durations are tried at their limits as well as past them.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string // "" = valid
	}{
		{name: "the sandbox defaults", edit: func(*Config) {}},
		{name: "addr without a port", edit: func(c *Config) { c.Addr = "127.0.0.1" }, wantErr: "want host:port"},
		{name: "sandbox off loopback", edit: func(c *Config) { c.Addr = "0.0.0.0:8080" }, wantErr: "loopback only"},
		{name: "sandbox on localhost", edit: func(c *Config) { c.Addr = "localhost:8080" }},
		{name: "sandbox with TLS", edit: func(c *Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }, wantErr: "drop --tls-cert"},
		{name: "half a TLS pair", edit: func(c *Config) { c.Sandbox, c.TLSCert = false, "c.pem" }, wantErr: "go together"},
		{name: "public URL without a scheme", edit: func(c *Config) { c.PublicURL = "spotter.example.com" }, wantErr: "absolute http(s) URL"},
		{name: "Slack prefix over plain HTTP", edit: func(c *Config) { c.SlackResponseURLs = []string{"http://example.com/"} }, wantErr: "--slack-response-urls"},
		{name: "body limit", edit: func(c *Config) { c.BodyLimit = "lots" }, wantErr: "--body-limit"},
		{name: "log format", edit: func(c *Config) { c.LogFormat = "xml" }, wantErr: "want json or text"},
		{name: "log level", edit: func(c *Config) { c.LogLevel = "loud" }, wantErr: "--log-level"},
		{name: "Vault nodes without VAULT_ADDR", edit: func(c *Config) { c.Sandbox, c.Addr, c.VaultAddrs = false, "127.0.0.1:0", []string{"https://v1:8200"} },
			wantErr: "SPOTTER_VAULT_ADDRS is set but VAULT_ADDR is not"},
		{name: "Vault without credentials", edit: func(c *Config) { c.Sandbox, c.VaultAddr = false, "https://v1:8200" }, wantErr: "VAULT_TOKEN"},
		{name: "no shutdown grace", edit: func(c *Config) { c.Timeouts.ShutdownGrace = 0 }},
		{name: "negative shutdown grace", edit: func(c *Config) { c.Timeouts.ShutdownGrace = -time.Second }, wantErr: "--shutdown-grace -1s"},
		{name: "negative token TTL", edit: func(c *Config) { c.TokenTTL = -time.Hour }, wantErr: "--token-ttl"},
		{name: "reaper off", edit: func(c *Config) { c.Timeouts.ReaperInterval = 0 }},
		{name: "negative reaper interval", edit: func(c *Config) { c.Timeouts.ReaperInterval = -time.Minute }, wantErr: "--reaper-interval"},
		{name: "pools off", edit: func(c *Config) { c.Timeouts.PoolInterval = 0 }},
		{name: "negative pool interval", edit: func(c *Config) { c.Timeouts.PoolInterval = -time.Nanosecond }, wantErr: "--pool-interval"},
		{name: "no launch lease", edit: func(c *Config) { c.Timeouts.LaunchLease = 0 }, wantErr: "--launch-lease is 0"},
		{name: "no request timeout", edit: func(c *Config) { c.Timeouts.Request = 0 }, wantErr: "the request timeout is 0"},
		{name: "launch wait just inside the request", edit: func(c *Config) { c.Timeouts.LaunchWait = c.Timeouts.Request - time.Nanosecond }},
		{name: "launch wait at the request timeout", edit: func(c *Config) { c.Timeouts.LaunchWait = c.Timeouts.Request },
			wantErr: "must end before the request timeout"},
		{name: "AWS call at the request timeout", edit: func(c *Config) { c.Timeouts.AWSCall = c.Timeouts.Request }},
		{name: "AWS call past the request timeout", edit: func(c *Config) { c.Timeouts.AWSCall = c.Timeouts.Request + time.Nanosecond },
			wantErr: "must not outlast the request timeout"},
		{name: "the first wrong setting wins", edit: func(c *Config) { c.LogFormat, c.Timeouts.LaunchLease = "xml", 0 }, wantErr: "--log-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sandboxConfig("")
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestDefaultTimeoutsValid: the defaults pass their own checks, so a
// change to one that breaks the order fails here rather than at start.
func TestDefaultTimeoutsValid(t *testing.T) {
	c := sandboxConfig("")
	c.Timeouts = DefaultTimeouts()
	if err := c.checkDurations(); err != nil {
		t.Fatal(err)
	}
}
