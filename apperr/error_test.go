package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

func TestErrorText(t *testing.T) {
	cause := errors.New("vault: connection refused")
	tests := []struct {
		name string
		err  *apperr.Error
		want string
	}{
		{name: "nil", err: nil, want: "<nil>"},
		{name: "code only", err: &apperr.Error{Code: apperr.NotFound}, want: "not_found"},
		{name: "code and details", err: apperr.New(apperr.Invalid, "count: must be %d or more", 1), want: "invalid_request: count: must be 1 or more"},
		{name: "code and cause", err: &apperr.Error{Code: apperr.Unavailable, Err: cause}, want: "unavailable: vault: connection refused"},
		{name: "all three", err: apperr.Wrap(cause, apperr.Unavailable, "store down"), want: "unavailable: store down: vault: connection refused"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q; want %q", tt.name, got, tt.want)
		}
	}
}

// A sentinel is a bare code: it matches any error of that code, and an
// error with details or a cause is not a sentinel for anything.
func TestIsMatchesBareCodesOnly(t *testing.T) {
	cause := errors.New("disk full")
	err := fmt.Errorf("save: %w", apperr.Wrap(cause, apperr.Conflict, "version moved"))
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{name: "bare code", target: &apperr.Error{Code: apperr.Conflict}, want: true},
		{name: "other code", target: &apperr.Error{Code: apperr.NotFound}},
		{name: "target with details", target: apperr.New(apperr.Conflict, "version moved")},
		{name: "target with a cause", target: &apperr.Error{Code: apperr.Conflict, Err: cause}},
		{name: "nil *Error target", target: (*apperr.Error)(nil)},
		{name: "plain error target", target: errors.New("conflict")},
		{name: "the cause itself", target: cause, want: true},
	}
	for _, tt := range tests {
		if got := errors.Is(err, tt.target); got != tt.want {
			t.Errorf("%s: errors.Is = %v; want %v", tt.name, got, tt.want)
		}
	}
	if got := errors.Unwrap(apperr.Wrap(cause, apperr.Internal, "")); got != cause {
		t.Errorf("Unwrap = %v; want the cause", got)
	}
}
