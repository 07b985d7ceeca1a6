package bootstrap

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"time"

	"github.com/spotter-dev/spotter/pool"
)

// MaxDocumentBytes bounds an identity document (EC2's are about 500).
const MaxDocumentBytes = 4096

// IdentityDocument is the part of EC2's instance identity document the
// hand-off checks.
type IdentityDocument struct {
	InstanceID   string    `json:"instanceId"`
	Region       string    `json:"region"`
	InstanceType string    `json:"instanceType"`
	ImageID      string    `json:"imageId"`
	AccountID    string    `json:"accountId"`
	PendingTime  time.Time `json:"pendingTime"`
}

// ParseCertificates reads PEM certificates (AWS's per-Region instance
// identity certificates, or awssim's from /_sim/identity-certificate).
func ParseCertificates(pemText []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, pemText = pem.Decode(pemText)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// checkIdentity verifies the signed identity document when spotter has
// certificates: the signature (RSA SHA-256 over the exact bytes), then
// that the document is this instance's, in the pool's Region, pending
// within the credential's window. It returns a refusal reason or "".
func (s *Service) checkIdentity(req Request, p pool.Pool, c credential) string {
	if len(s.certs) == 0 {
		return ""
	}
	if req.Document == "" || req.Signature == "" {
		return "identity_missing"
	}
	if len(req.Document) > MaxDocumentBytes {
		return "identity_signature"
	}
	sig, err := base64.StdEncoding.DecodeString(req.Signature)
	if err != nil {
		return "identity_signature"
	}
	ok := false
	for _, cert := range s.certs {
		if cert.CheckSignature(x509.SHA256WithRSA, []byte(req.Document), sig) == nil {
			ok = true
			break
		}
	}
	if !ok {
		return "identity_signature"
	}
	var doc IdentityDocument
	if err := json.Unmarshal([]byte(req.Document), &doc); err != nil {
		return "identity_mismatch"
	}
	switch {
	case doc.InstanceID != req.InstanceID, doc.Region != p.Region:
		return "identity_mismatch"
	case doc.PendingTime.Before(c.IssuedAt.Add(-launchSkew)) || doc.PendingTime.After(c.ExpiresAt):
		return "launch_window"
	}
	return ""
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
