package awssim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// identitySigner is the sim's stand-in for AWS's per-Region key that signs
// instance identity documents. It is made on first use (an RSA key takes a
// moment), once per Sim, so tests that never ask pay nothing.
type identitySigner struct {
	once    sync.Once
	key     *rsa.PrivateKey
	certPEM []byte
	err     error
}

func (s *Sim) signer() (*identitySigner, error) {
	id := &s.identity
	id.once.Do(func() {
		id.key, id.err = rsa.GenerateKey(rand.Reader, 2048)
		if id.err != nil {
			return
		}
		now := s.now()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1),
			Subject:   pkix.Name{Organization: []string{"awssim"}, CommonName: "awssim instance identity"},
			NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour)}
		var der []byte
		der, id.err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &id.key.PublicKey, id.key)
		id.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	return id, id.err
}

// IdentityCertificate is the PEM certificate that verifies the sim's
// instance identity signatures (what AWS publishes per Region).
func (s *Sim) IdentityCertificate() ([]byte, error) {
	id, err := s.signer()
	if err != nil {
		return nil, err
	}
	return id.certPEM, nil
}

// identityDocument has EC2's fields in EC2's order.
type identityDocument struct {
	AccountID               string    `json:"accountId"`
	Architecture            string    `json:"architecture"`
	AvailabilityZone        string    `json:"availabilityZone"`
	BillingProducts         *[]string `json:"billingProducts"`
	DevpayProductCodes      *[]string `json:"devpayProductCodes"`
	MarketplaceProductCodes *[]string `json:"marketplaceProductCodes"`
	ImageID                 string    `json:"imageId"`
	InstanceID              string    `json:"instanceId"`
	InstanceType            string    `json:"instanceType"`
	KernelID                *string   `json:"kernelId"`
	PendingTime             string    `json:"pendingTime"`
	PrivateIP               string    `json:"privateIp"`
	RamdiskID               *string   `json:"ramdiskId"`
	Region                  string    `json:"region"`
	Version                 string    `json:"version"`
}

// IdentityDocument returns an instance's identity document, as its
// metadata service serves it at /latest/dynamic/instance-identity/document,
// and the base64 RSA SHA-256 signature EC2 serves at …/signature.
func (s *Sim) IdentityDocument(instanceID string) (doc []byte, signature string, err error) {
	id, err := s.signer()
	if err != nil {
		return nil, "", err
	}
	r, in, err := s.findInstance(instanceID)
	if err != nil {
		return nil, "", err
	}
	d := identityDocument{AccountID: s.opts.AccountID, Architecture: r.imageArch(in.imageID), AvailabilityZone: in.az,
		ImageID: in.imageID, InstanceID: in.id, InstanceType: in.itype, PendingTime: in.launchTime.UTC().Format(time.RFC3339),
		PrivateIP: in.privateIP, Region: r.name, Version: "2017-09-30"}
	r.mu.Unlock()
	doc, err = json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(doc)
	sig, err := rsa.SignPKCS1v15(rand.Reader, id.key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, "", err
	}
	// EC2 wraps the base64 at 64 columns.
	b64 := base64.StdEncoding.EncodeToString(sig)
	var wrapped strings.Builder
	for len(b64) > 64 {
		wrapped.WriteString(b64[:64] + "\n")
		b64 = b64[64:]
	}
	wrapped.WriteString(b64)
	return doc, wrapped.String(), nil
}

// UserData is an instance's user data as its metadata service serves it
// at /latest/user-data (decoded); found is false when it has none.
func (s *Sim) UserData(instanceID string) (data []byte, found bool, err error) {
	r, in, err := s.findInstance(instanceID)
	if err != nil {
		return nil, false, err
	}
	ud := in.userData
	r.mu.Unlock()
	if ud == "" {
		return nil, false, nil
	}
	data, err = base64.StdEncoding.DecodeString(ud)
	return data, err == nil, err
}

// serveIdentity answers /_sim/imds/<id>/latest/dynamic/instance-identity/
// {document,signature} and /latest/user-data; it reports whether path was
// one of them.
func (s *Sim) serveIdentity(w http.ResponseWriter, id, path string) bool {
	if path == "latest/user-data" {
		data, found, err := s.UserData(id)
		switch {
		case err != nil:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case !found:
			w.WriteHeader(http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(data)
		}
		return true
	}
	what, ok := strings.CutPrefix(path, "latest/dynamic/instance-identity/")
	if !ok {
		return false
	}
	if what != "document" && what != "signature" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "instance-identity/" + what + " is not emulated; use document or signature"})
		return true
	}
	doc, sig, err := s.IdentityDocument(id)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return true
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	if what == "document" {
		w.Write(doc)
	} else {
		w.Write([]byte(sig))
	}
	return true
}
