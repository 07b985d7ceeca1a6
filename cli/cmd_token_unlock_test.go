package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/internal/e2e"
	"github.com/spotter-dev/spotter/token"
)

// TestTokenUnlockCLI: after too many wrong codes `spotter task` reports
// mfa_locked, `token show` and `token list` show the lock, and
// `spotter token unlock` ends it.
func TestTokenUnlockCLI(t *testing.T) {
	admin, _ := startAdminSandbox(t)
	c := createTestToken(t, admin, "phone", "--totp")
	task := map[string]string{cliEnvCapURL: c.URL}
	wrong := e2e.WrongTOTPCodes(t, c.TOTP.Secret, token.MaxMFAFailures+1)
	var printed strings.Builder
	for i := range token.MaxMFAFailures {
		r := runCLI(t, task, "", "task", "status", "--mfa-code", wrong[i])
		printed.WriteString(r.stdout + r.stderr)
		want := "mfa_invalid"
		if i == token.MaxMFAFailures-1 {
			want = "mfa_locked"
		}
		if r.err == nil || !strings.Contains(r.err.Error()+r.stderr, want) {
			t.Fatalf("wrong code %d: err %v, stderr %q; want %s", i+1, r.err, r.stderr, want)
		}
	}

	r := mustCLI(t, admin, "", "token", "show", c.ID)
	printed.WriteString(r.stdout)
	if !strings.Contains(r.stdout, "MFA lock") || !strings.Contains(r.stdout, "locked until") {
		t.Errorf("token show of a locked token:\n%s\nwant an MFA lock line", r.stdout)
	}
	r = mustCLI(t, admin, "", "token", "list")
	printed.WriteString(r.stdout)
	if !strings.Contains(r.stdout, "totp (locked)") {
		t.Errorf("token list:\n%s\nwant the token marked locked", r.stdout)
	}
	r = mustCLI(t, admin, "", "token", "show", c.ID, "--json")
	var info api.TokenInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.MFALock == nil || !info.MFALock.Locked || info.MFALock.Failures != token.MaxMFAFailures {
		t.Fatalf("token show --json: %v %+v", err, info.MFALock)
	}

	r = mustCLI(t, admin, "", "token", "unlock", c.ID)
	if !strings.Contains(r.stdout, "unlocked "+c.ID) {
		t.Errorf("token unlock printed %q", r.stdout)
	}
	r = mustCLI(t, admin, "", "token", "unlock", c.ID, "--json")
	var u api.UnlockedToken
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.WasLocked || u.ID != c.ID {
		t.Fatalf("second unlock --json = %+v, %v; want wasLocked false", u, err)
	}
	if r := runCLI(t, task, "", "task", "status", "--mfa-code", wrong[token.MaxMFAFailures]); r.err == nil || !strings.Contains(r.err.Error()+r.stderr, "mfa_invalid") {
		t.Fatalf("a wrong code after unlock: err %v; want mfa_invalid (not locked)", r.err)
	}
	for _, tt := range []struct{ name, id, want string }{
		{name: "no MFA", id: createTestToken(t, admin, "plain").ID, want: "invalid_request"},
		{name: "unknown", id: "tok_aaaaaaaaaaaaaaaaaaaa", want: "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, admin, "", "token", "unlock", tt.id)
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Fatalf("token unlock %s: err %v; want %s", tt.id, r.err, tt.want)
			}
		})
	}
	if strings.Contains(printed.String(), c.TOTP.Secret) {
		t.Error("the TOTP secret was printed again")
	}
}
