package apperr_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

func TestCodeAndIs(t *testing.T) {
	sentinel := &apperr.Error{Code: apperr.NotFound}
	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantDetails string
		isSentinel  bool
	}{
		{name: "plain error is internal", err: errors.New("boom"), wantCode: apperr.Internal},
		{name: "typed", err: apperr.New(apperr.NotFound, "token %s", "t1"), wantCode: apperr.NotFound, wantDetails: "token t1", isSentinel: true},
		{name: "wrapped twice", err: fmt.Errorf("load: %w", apperr.Wrap(errors.New("x"), apperr.Unavailable, "vault down")), wantCode: apperr.Unavailable, wantDetails: "vault down"},
		{name: "nil has no code", err: nil, wantCode: ""},
		{name: "typed nil is internal", err: error((*apperr.Error)(nil)), wantCode: apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apperr.Code(tt.err); got != tt.wantCode {
				t.Errorf("Code() = %q; want %q", got, tt.wantCode)
			}
			if got := apperr.Details(tt.err); got != tt.wantDetails {
				t.Errorf("Details() = %q; want %q", got, tt.wantDetails)
			}
			if got := errors.Is(tt.err, sentinel); got != tt.isSentinel {
				t.Errorf("errors.Is(err, NotFound) = %v; want %v", got, tt.isSentinel)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	locked := &apperr.Error{Code: apperr.MFALocked, Details: "wait", RetryAfter: 90 * time.Second}
	if got := apperr.RetryAfter(fmt.Errorf("guard: %w", locked)); got != 90*time.Second {
		t.Errorf("RetryAfter(wrapped) = %s; want 1m30s", got)
	}
	if got := apperr.RetryAfter(errors.New("plain")); got != 0 {
		t.Errorf("RetryAfter(plain) = %s; want 0", got)
	}
	if !errors.Is(locked, &apperr.Error{Code: apperr.MFALocked}) {
		t.Error("an error with a wait does not match its code's sentinel")
	}
}
