package awssim

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// TOTP parameters of an AWS virtual MFA device: SHA-1, 6 digits, 30 s.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew is how many steps either side of now are accepted, allowing
	// for clock drift as RFC 6238 §5.2 recommends.
	totpSkew = 1
)

var (
	errMFAUnknown = errors.New("unknown MFA device")
	errMFAInvalid = errors.New("invalid MFA code")
	errMFAReused  = errors.New("MFA code already used")
)

// TOTP returns the RFC 6238 code of a base32 secret at t, as a virtual MFA
// app would show it. Tests and demos use it to produce valid codes.
func TOTP(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return totpAt(key, floorDiv(t.Unix(), int64(totpStep/time.Second))), nil
}

func decodeSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(secret), " ", ""))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("decode TOTP secret: %w", err)
	}
	// RFC 4226 §4 requires at least 128 bits; 80 is what most authenticator
	// examples use, so that is the floor accepted here.
	if len(key) < 10 {
		return nil, fmt.Errorf("TOTP secret is %d bytes; at least 10 are required", len(key))
	}
	return key, nil
}

// totpAt is HOTP (RFC 4226 §5.3) over the step counter.
func totpAt(key []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, bin%1_000_000)
}

type mfaDevice struct {
	key      []byte
	lastStep int64 // highest step accepted; codes at or below it are refused
	used     bool
}

// mfaState holds registered devices and the last step each accepted, so a
// code is good once, as AWS enforces.
type mfaState struct {
	mu      sync.Mutex
	devices map[string]*mfaDevice
}

func newMFAState() *mfaState { return &mfaState{devices: map[string]*mfaDevice{}} }

// RegisterMFA registers (or replaces) a virtual MFA device: its serial
// (usually arn:aws:iam::ACCOUNT:mfa/NAME) and base32 TOTP secret.
func (s *Sim) RegisterMFA(serial, secret string) error {
	if serial == "" {
		return errors.New("register MFA device: empty serial number")
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return fmt.Errorf("register MFA device %s: %w", serial, err)
	}
	s.mfa.mu.Lock()
	defer s.mfa.mu.Unlock()
	s.mfa.devices[serial] = &mfaDevice{key: key}
	return nil
}

// verify accepts code once for the device: the step it matches must be
// newer than any step accepted before (RFC 6238 §5.2).
func (m *mfaState) verify(serial, code string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.devices[serial]
	if !ok {
		return errMFAUnknown
	}
	cur := floorDiv(now.Unix(), int64(totpStep/time.Second))
	matched := int64(0)
	found := false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if subtle.ConstantTimeCompare([]byte(totpAt(d.key, step)), []byte(code)) == 1 {
			matched, found = step, true
		}
	}
	if !found {
		return errMFAInvalid
	}
	if d.used && matched <= d.lastStep {
		return errMFAReused
	}
	d.lastStep, d.used = matched, true
	return nil
}

func (m *mfaState) forgetUsed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.devices {
		d.used, d.lastStep = false, 0
	}
}

func (m *mfaState) serials() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedIDs(m.devices)
}
