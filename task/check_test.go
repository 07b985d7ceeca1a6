package task

import (
	"context"
	"errors"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/policy"
)

// TestReserveBeforeMFA: a source's reserve (Slack's job slots) is claimed
// after every check but MFA and given back if MFA fails, so being busy never
// spends a one-time code and a bad code never holds a slot.
func TestReserveBeforeMFA(t *testing.T) {
	busy := apperr.New(apperr.RateLimited, "busy")
	tests := []struct {
		name        string
		mfa         api.MFAInfo
		code        string
		reserveErr  error
		wantCode    string
		wantHeld    bool // the slot is still claimed after check
		wantClaimed bool // reserve was reached
	}{
		{
			// TOTP codes are spent by CheckMFA; the Registry is nil here, so
			// reaching it would panic.
			name: "busy refuses before a TOTP code is looked at", mfa: api.MFAInfo{Type: api.MFATOTP}, code: "123456",
			reserveErr: busy, wantCode: apperr.RateLimited, wantClaimed: true,
		},
		{
			name: "a bad MFA code gives the slot back", mfa: api.MFAInfo{Type: api.MFAAWS, SerialNumber: "arn:aws:iam::123456789012:mfa/ops"}, code: "12",
			wantCode: apperr.MFAInvalid, wantClaimed: true,
		},
		{name: "a passing check keeps the slot", wantHeld: true, wantClaimed: true},
		{name: "a policy refusal claims nothing", mfa: api.MFAInfo{}, wantCode: apperr.PolicyDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := policy.Policy{Regions: []string{"us-east-1"}, Tasks: []string{"status"}}
			tk := Task{TaskRequest: api.TaskRequest{Task: "status", MFACode: tt.code}}
			if tt.wantCode == apperr.PolicyDenied {
				tk.Task = "terminate"
			}
			g := Guarded{Token: capability.Token{Info: capability.Info{MFA: tt.mfa, Policy: api.Policy(pol)}, Policy: pol}, Task: tk}
			claimed, held := false, false
			reserve := func() (func(), error) {
				claimed = true
				if tt.reserveErr != nil {
					return nil, tt.reserveErr
				}
				held = true
				return func() { held = false }, nil
			}
			err := (&Pipeline{Tokens: (*capability.Registry)(nil)}).check(context.Background(), &g, reserve)
			if got := apperr.Code(err); (tt.wantCode == "" && err != nil) || (tt.wantCode != "" && got != tt.wantCode) {
				t.Fatalf("check = %v (%s); want %q", err, got, tt.wantCode)
			}
			if claimed != tt.wantClaimed || held != tt.wantHeld {
				t.Errorf("reserve reached %v, slot held %v; want %v, %v", claimed, held, tt.wantClaimed, tt.wantHeld)
			}
			if (g.Release != nil) != tt.wantHeld {
				t.Errorf("g.Release set %v; want %v", g.Release != nil, tt.wantHeld)
			}
			if errors.Is(err, busy) && g.Release != nil {
				t.Error("a refused reserve left a release behind")
			}
		})
	}
}
