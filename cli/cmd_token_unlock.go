package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/client"
)

func runTokenUnlock(ctx context.Context, args []string, getenv func(string) string, _ io.Reader, stdout, stderr io.Writer) error {
	return runOneToken(ctx, args, getenv, stdout, stderr, "token unlock",
		"Clears a token's MFA lockout, wrong-code count and back-off: its next right code is accepted\n"+
			"on every replica at once. A token locks after too many wrong MFA codes (429 mfa_locked).",
		func(c *client.Client, id string) (any, func(), error) {
			out, err := c.UnlockToken(ctx, id)
			return out, func() {
				if out.WasLocked {
					fmt.Fprintf(stdout, "unlocked %s: its MFA takes codes again\n", out.ID)
				} else {
					fmt.Fprintf(stdout, "%s was not locked; its wrong-code count and back-off are cleared\n", out.ID)
				}
			}, err
		})
}

// lockSummary describes a token's MFA failure record for people.
func lockSummary(l *api.MFALock) string {
	if l == nil {
		return ""
	}
	if l.Locked {
		return fmt.Sprintf("locked until %s (spotter token unlock), %d lockout(s) in a row", timeOrDash(l.LockedUntil), l.Lockouts)
	}
	return fmt.Sprintf("not locked, %d wrong code(s) since the last right one", l.Failures)
}

// lockedNote marks a locked token in the list.
func lockedNote(l *api.MFALock) string {
	if l == nil || !l.Locked {
		return ""
	}
	return " (locked)"
}
