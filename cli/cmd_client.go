package cli

// Shared by the client commands (token, keys, task): connection flags, where
// tokens come from, and output helpers.

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spotter-dev/spotter/client"
)

// Environment variables the client commands read. Tokens and secrets come
// from the environment or files, never from flag values, which land in shell
// history and process listings.
const (
	cliEnvServer        = "SPOTTER_SERVER"
	cliEnvAdminToken    = "SPOTTER_ADMIN_TOKEN"
	cliEnvCACert        = "SPOTTER_CACERT"
	cliEnvFingerprint   = "SPOTTER_FINGERPRINT"
	cliEnvCapURL        = "SPOTTER_URL"
	cliEnvCapToken      = "SPOTTER_TOKEN"
	cliEnvSigningSecret = "SPOTTER_SIGNING_SECRET"
	cliEnvAWSKeyID      = "AWS_ACCESS_KEY_ID"
	cliEnvAWSSecret     = "AWS_SECRET_ACCESS_KEY"

	cliDefaultServer = "https://127.0.0.1:8443"
)

// cliConn holds the flags that say how to reach a server.
type cliConn struct {
	server         string
	caCert         string
	fingerprint    string
	insecure       bool
	timeout        time.Duration
	adminTokenFile string
}

// register adds the connection flags to fs; admin adds --admin-token-file.
func (c *cliConn) register(fs *flag.FlagSet, getenv func(string) string, admin bool) {
	fs.StringVar(&c.server, "server", cmp.Or(getenv(cliEnvServer), cliDefaultServer), "spotter server URL (env "+cliEnvServer+")")
	fs.StringVar(&c.caCert, "cacert", getenv(cliEnvCACert), "trust this PEM certificate, e.g. <data-dir>/tls-cert.pem of spotter serve (env "+cliEnvCACert+")")
	fs.StringVar(&c.fingerprint, "fingerprint", getenv(cliEnvFingerprint), "pin the server certificate's SHA-256 as spotter serve logs it, AA:BB:… (env "+cliEnvFingerprint+")")
	fs.BoolVar(&c.insecure, "insecure", false, "do NOT verify the server's certificate (and allow plain HTTP off loopback): tokens can be read and replaced in transit")
	fs.DurationVar(&c.timeout, "timeout", client.DefaultTimeout, "bound on each request")
	if admin {
		fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "read the admin token from this file (default: env "+cliEnvAdminToken+")")
	}
}

// client builds the API client. admin reads the admin token, which must then
// exist. server overrides --server when non-empty (a capability URL's host).
func (c *cliConn) client(getenv func(string) string, stderr io.Writer, admin bool, server string) (*client.Client, error) {
	opts := []client.Option{client.WithTimeout(c.timeout), client.WithUserAgent("spotter-cli/" + buildVersion())}
	if admin {
		tok, err := c.adminToken(getenv)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithAdminToken(tok))
	}
	if c.caCert != "" {
		opts = append(opts, client.WithCAFile(c.caCert))
	}
	if c.fingerprint != "" {
		opts = append(opts, client.WithFingerprint(c.fingerprint))
	}
	if c.insecure {
		fmt.Fprintln(stderr, "spotter: warning: --insecure: the server's certificate is not verified; anyone on the network path can read and replace tokens")
		opts = append(opts, client.WithInsecure())
	}
	if server == "" {
		server = c.server
	}
	return client.New(server, opts...)
}

func (c *cliConn) adminToken(getenv func(string) string) (string, error) {
	if c.adminTokenFile != "" {
		b, err := os.ReadFile(c.adminTokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--admin-token-file %s is empty", c.adminTokenFile)
		}
		return tok, nil
	}
	if tok := strings.TrimSpace(getenv(cliEnvAdminToken)); tok != "" {
		return tok, nil
	}
	return "", fmt.Errorf("no admin token: set %s or pass --admin-token-file (spotter serve prints the token on first start)", cliEnvAdminToken)
}

// cliError adds a hint to errors a person can fix with a flag. API errors
// pass through as they are, to print as "<error>: <details> (HTTP <code>)".
func cliError(err error) error {
	var cve *tls.CertificateVerificationError
	var fpe *client.FingerprintMismatchError
	switch {
	case errors.As(err, &cve):
		return fmt.Errorf("%w\n  the server's certificate is not trusted: pass --cacert <data-dir>/tls-cert.pem, or --fingerprint with the sha256 spotter serve logged", err)
	case errors.As(err, &fpe):
		return fmt.Errorf("%w\n  if the server's certificate was replaced on purpose, pin the new fingerprint spotter serve logged", err)
	case client.ErrorCode(err) == "mfa_required":
		return fmt.Errorf("%w\n  this token needs an MFA code: pass --mfa-code 123456, or --mfa to be asked for it", err)
	}
	return err
}

// isTerminal reports whether f is a terminal: stdin and stderr are io
// values so tests can pass buffers, which are never terminals.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readLine reads one line from r, prompting on stderr first when r is a
// terminal. The line is trimmed; an empty one is an error naming what.
func readLine(r io.Reader, stderr io.Writer, prompt, what string) (string, error) {
	if isTerminal(r) {
		fmt.Fprint(stderr, prompt)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("read %s from stdin: got nothing", what)
	}
	return line, nil
}

// readSecretFile reads a secret kept in a file, trimmed of the newline
// editors add.
func readSecretFile(flagName, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", flagName, path)
	}
	return s, nil
}

// writeJSON prints v indented, and as the server wrote it: "<token>", not
// "\u003ctoken\u003e".
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tagFlag collects repeated --tag key=value flags.
type tagFlag map[string]string

func (t tagFlag) String() string { return "" }

func (t tagFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	t[strings.TrimSpace(k)] = val
	return nil
}

// timeOrDash formats an optional time for tables.
func timeOrDash(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
