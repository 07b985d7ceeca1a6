package secrets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/spotter-dev/spotter/apperr"
)

func TestNodeList(t *testing.T) {
	tests := []struct {
		name string
		addr string
		more []string
		want []string
	}{
		{name: "one", addr: "https://v1:8200", want: []string{"https://v1:8200"}},
		{
			name: "repeats, blanks and trailing slashes dropped, order kept",
			addr: "https://v2:8200/",
			more: []string{"https://v1:8200", " ", "https://v2:8200", " https://v3:8200 ", "https://v1:8200/"},
			want: []string{"https://v2:8200", "https://v1:8200", "https://v3:8200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nodeList(tt.addr, tt.more); !slices.Equal(got, tt.want) {
				t.Fatalf("nodeList(%q, %q) = %q; want %q", tt.addr, tt.more, got, tt.want)
			}
		})
	}
}

func TestNodeDown(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("error writing secret: %w", &api.ResponseError{StatusCode: code})
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "success", err: nil, want: false},
		{name: "connection refused", err: fmt.Errorf("Get %q: %w", "https://v1", refused), want: true},
		{name: "caller's deadline", err: fmt.Errorf("get: %w", context.DeadlineExceeded), want: false},
		{name: "caller cancelled", err: context.Canceled, want: false},
		{name: "sealed or no leader (503)", err: status(503), want: true},
		{name: "proxy 502", err: status(502), want: true},
		{name: "proxy 504", err: status(504), want: true},
		{name: "internal error (500) comes from a working cluster", err: status(500), want: false},
		{name: "check-and-set mismatch (400)", err: status(400), want: false},
		{name: "permission denied (403)", err: status(403), want: false},
		{name: "not found (404)", err: status(404), want: false},
		{name: "other error", err: errors.New("tls: bad certificate"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nodeDown(tt.err); got != tt.want {
				t.Fatalf("nodeDown(%v) = %t; want %t", tt.err, got, tt.want)
			}
		})
	}
}

func TestNewVaultRefusesBadNodeAddress(t *testing.T) {
	for _, addr := range []string{"vault-1:8200", "unix:///run/vault.sock", "https://"} {
		t.Run(addr, func(t *testing.T) {
			_, err := NewVault(context.Background(), VaultConfig{Addr: "https://vault-0:8200", Addrs: []string{addr}, Token: "t"})
			if apperr.Code(err) != apperr.Invalid {
				t.Fatalf("NewVault(Addrs: %q) = %v; want an invalid-config error", addr, err)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTimedOut(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "success", err: nil, want: false},
		{name: "deadline with no reply", err: fmt.Errorf("Put: %w", context.DeadlineExceeded), want: true},
		{name: "net timeout", err: fmt.Errorf("read: %w", timeoutErr{}), want: true},
		{name: "caller cancelled", err: context.Canceled, want: false},
		{name: "refused (switched already, not a timeout)", err: errors.New("connect: connection refused"), want: false},
		{name: "a reply, even 503", err: &api.ResponseError{StatusCode: 503}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := timedOut(tt.err); got != tt.want {
				t.Fatalf("timedOut(%v) = %t; want %t", tt.err, got, tt.want)
			}
		})
	}
}
