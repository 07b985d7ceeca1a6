package task

import (
	"errors"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

// What the caller can fix is "refused"; what broke on spotter's or AWS's
// side is "failed". Dashboards alert on the second only.
func TestOutcome(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"ok":                   {err: nil, want: "ok"},
		"policy denied":        {err: apperr.New(apperr.PolicyDenied, "x"), want: "refused"},
		"invalid request":      {err: apperr.New(apperr.Invalid, "x"), want: "refused"},
		"price too low":        {err: apperr.New(apperr.PriceTooLow, "x"), want: "refused"},
		"mfa required":         {err: apperr.New(apperr.MFARequired, "x"), want: "refused"},
		"mfa invalid":          {err: apperr.New(apperr.MFAInvalid, "x"), want: "refused"},
		"mfa replayed":         {err: apperr.New(apperr.MFAReplayed, "x"), want: "refused"},
		"mfa locked":           {err: apperr.New(apperr.MFALocked, "x"), want: "refused"},
		"capacity unavailable": {err: apperr.New(apperr.CapacityUnavailable, "x"), want: "failed"},
		"aws unavailable":      {err: apperr.New(apperr.AWSUnavailable, "x"), want: "failed"},
		"plain error":          {err: errors.New("boom"), want: "failed"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := outcome(tt.err); got != tt.want {
				t.Errorf("outcome(%v) = %q; want %q", tt.err, got, tt.want)
			}
		})
	}
}
