package client

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// FingerprintMismatchError is returned when the server's certificate is not
// the one pinned with [WithFingerprint].
type FingerprintMismatchError struct {
	Got string // the certificate the server presented, AA:BB:… form
}

func (e *FingerprintMismatchError) Error() string {
	return "server certificate sha256 " + e.Got + " is not the pinned fingerprint"
}

// ParseFingerprint reads a SHA-256 fingerprint written as 64 hex digits,
// optionally colon-separated, in either case, optionally prefixed "sha256:".
func ParseFingerprint(fp string) ([]byte, error) {
	s := strings.TrimSpace(fp)
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("fingerprint: want the certificate's SHA-256 as 64 hex digits (AA:BB:… as spotter serve logs it)")
	}
	return b, nil
}

// FormatFingerprint writes the SHA-256 of a DER certificate as AA:BB:….
func FormatFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

func tlsConfig(s settings) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", s.caFile)
		}
		conf.RootCAs = pool
	}
	switch {
	case s.fingerprint != nil:
		pin := s.fingerprint
		// Without a CA file the pin replaces chain and name checks: a
		// self-signed certificate has no chain, and matching its exact
		// SHA-256 is a stronger check than both. With a CA file, the normal
		// checks run first and the pin is checked on top.
		conf.InsecureSkipVerify = s.caFile == ""
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return &FingerprintMismatchError{Got: FormatFingerprint(cs.PeerCertificates[0].Raw)}
			}
			return nil
		}
	case s.insecure:
		conf.InsecureSkipVerify = true
	}
	return conf, nil
}
