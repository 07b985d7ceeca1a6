package inflight

import (
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// A launch that reached EC2 and started nothing (no capacity) has spent
// its identity: EC2 binds the ClientToken to that first CreateFleet, and a
// retry's CreateFleet, with its own request id and expiry, is refused as
// another request. So the ledger keeps the failure with the identity, and
// a retry of it is answered with the same failure before anything else,
// on every replica, instead of reaching EC2 and learning only that the
// ClientToken is taken.

// FailedFor is how long a launch identity's failure is answered again.
const FailedFor = time.Hour

// maxFailed bounds the failures a token's record keeps; past it the one
// that would be forgotten first goes.
const maxFailed = 16

// failRec is a launch identity's failure as its caller was told it.
type failRec struct {
	Code       string `json:"code"`
	Details    string `json:"details,omitempty"`
	RetryAfter int64  `json:"retryAfter,omitempty"` // ns
	Until      int64  `json:"until"`                // unix ns
}

// Failed keeps err (its code, details and Retry-After) as the outcome of
// launch identity key, so that an Admit of key within FailedFor answers
// it. If the store does not take it, a retry reaches EC2 and is refused
// there as a reuse of the ClientToken.
func (l *Ledger) Failed(tokenID, key string, err error) {
	if l == nil || key == "" || err == nil {
		return
	}
	f := failRec{Code: apperr.Code(err), Details: apperr.Details(err), RetryAfter: int64(apperr.RetryAfter(err))}
	l.shared.do(tokenID, l.now, &op{
		apply: func(u *usage, now time.Time) (bool, bool) {
			f.Until = now.Add(FailedFor).UnixNano()
			u.fail(key, f)
			return true, false
		},
		fail: func(err error) {
			l.shared.log.Warn("keeping a failed launch's outcome failed; a retry of it learns only that its key is spent",
				"token", tokenID, "error", err)
		},
	})
}

// fail keeps f for key, within maxFailed.
func (u *usage) fail(key string, f failRec) {
	if u.Failed == nil {
		u.Failed = map[string]failRec{}
	}
	u.Failed[key] = f
	for len(u.Failed) > maxFailed {
		first := ""
		for k, r := range u.Failed {
			if first == "" || r.Until < u.Failed[first].Until {
				first = k
			}
		}
		delete(u.Failed, first)
	}
}

// failure is key's kept failure as an error, or nil.
func (u *usage) failure(key string) error {
	f, ok := u.Failed[key]
	if !ok {
		return nil
	}
	return &apperr.Error{Code: f.Code, Details: f.Details, RetryAfter: time.Duration(f.RetryAfter)}
}

// idle says a memory ledger may forget the record: nothing in it counts.
func (u *usage) idle() bool {
	return len(u.Claims) == 0 && len(u.Started) == 0 && len(u.Failed) == 0
}
