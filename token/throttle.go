package token

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// MFA throttling (RFC 4226 §7.3, RFC 6238 §5.2): a six-digit code is
// guessed with probability 3 in 10⁶ per try (three steps are accepted at
// once), so the number of tries, not the code, is what keeps a token safe.
// These constants are the whole policy; TestGuessBound fails if a change
// lets an attacker at the limit reach 1 % success in a month.
const (
	// MaxMFAFailures wrong codes in a row lock the token's MFA.
	MaxMFAFailures = 5
	// MFAFailureWindow forgets failures this old that never led to a lock,
	// so a typo weeks ago does not count against today.
	MFAFailureWindow = 24 * time.Hour
	// MFALockoutBase is the first lockout; each further lockout without a
	// success in between doubles it, up to MFALockoutMax.
	MFALockoutBase = time.Minute
	MFALockoutMax  = 4 * time.Hour
	// mfaAcceptedCodes: the codes of 2·totpSkew+1 steps are accepted at
	// once, out of 10^digits.
	mfaAcceptedCodes = 2*totpSkew + 1
)

// LockoutFor is the length of the n-th lockout in a row (n ≥ 1).
func LockoutFor(n int) time.Duration {
	d := MFALockoutBase
	for i := 1; i < n && d < MFALockoutMax; i++ {
		d *= 2
	}
	return min(d, MFALockoutMax)
}

// ThrottleState is a token's MFA failure record, kept in the store so every
// replica counts the same tries.
type ThrottleState struct {
	// Failures counts tries since the window began that have not been
	// proven right: a try is counted before its code is checked and
	// forgiven when the code is accepted, so concurrent tries can never
	// check more codes than the budget allows.
	Failures    int       `json:"failures"`
	WindowStart time.Time `json:"windowStart,omitzero"`
	// Lockouts counts lockouts since the last accepted code: the back-off.
	Lockouts    int       `json:"lockouts"`
	LockedUntil time.Time `json:"lockedUntil,omitzero"`
	// Seq numbers every try ever made; LockSeq is the try that set the lock.
	Seq     int64 `json:"seq"`
	LockSeq int64 `json:"lockSeq,omitempty"`
}

// Locked reports whether the state refuses tries at now.
func (s ThrottleState) Locked(now time.Time) bool {
	return !s.LockedUntil.IsZero() && now.Before(s.LockedUntil)
}

// ThrottleStore keeps ThrottleStates under check-and-set. An adapter over
// secrets.Store keeps them at "mfa/<id>".
type ThrottleStore interface {
	// LoadThrottle returns the state and its version; (zero, 0, nil) when
	// the token has none.
	LoadThrottle(ctx context.Context, tokenID string) (ThrottleState, int, error)
	// SaveThrottle writes s if the record is still at version (0: create
	// only) and returns the new version; otherwise it returns an error
	// matching ErrConflict.
	SaveThrottle(ctx context.Context, tokenID string, s ThrottleState, version int) (int, error)
}

// Throttle limits MFA tries per token across every replica sharing its
// store. Each try is Begun (counted, or refused while locked) before its
// code is checked anywhere — by spotter or by STS — and then Succeeded or
// Failed. It is safe for concurrent use.
type Throttle struct {
	store ThrottleStore
	now   func() time.Time
}

// NewThrottle returns a Throttle over store; now is time.Now when nil.
func NewThrottle(store ThrottleStore, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{store: store, now: now}
}

// Attempt is one counted try.
type Attempt struct {
	TokenID string
	// Seq names the try; N is its place in the budget (1..MaxMFAFailures).
	Seq int64
	N   int
	// LockedUntil is set when this try spent the last of the budget: the
	// token is locked from its start, and stays so unless it is right.
	LockedUntil time.Time
	// saved and version are the record as Begin wrote it, so Succeeded
	// can skip a read when no other try came in between.
	saved   ThrottleState
	version int
}

// Begin counts a try for tokenID, or refuses it with apperr.MFALocked
// (RetryAfter set) while the token is locked. A store error or a lost race
// refuses the try too: no code is checked that was not counted.
func (t *Throttle) Begin(ctx context.Context, tokenID string) (Attempt, error) {
	for range maxCASRetries {
		s, version, err := t.store.LoadThrottle(ctx, tokenID)
		if err != nil {
			return Attempt{}, fmt.Errorf("read MFA failures of token %s: %w", tokenID, err)
		}
		now := t.now()
		if s.Locked(now) {
			return Attempt{}, lockedErr(tokenID, s.LockedUntil, now, "this token's MFA is locked after too many wrong codes")
		}
		if !s.LockedUntil.IsZero() || now.Sub(s.WindowStart) >= MFAFailureWindow {
			// The lockout is over, or the failures are stale: a new budget.
			s.Failures, s.LockedUntil, s.LockSeq = 0, time.Time{}, 0
		}
		if s.Failures == 0 {
			s.WindowStart = now.UTC()
		}
		s.Seq++
		s.Failures++
		a := Attempt{TokenID: tokenID, Seq: s.Seq, N: s.Failures}
		if s.Failures >= MaxMFAFailures {
			s.Lockouts++
			s.LockedUntil, s.LockSeq = now.Add(LockoutFor(s.Lockouts)).UTC(), s.Seq
			a.LockedUntil = s.LockedUntil
		}
		saved, err := t.store.SaveThrottle(ctx, tokenID, s, version)
		if err == nil {
			a.saved, a.version = s, saved
			return a, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Attempt{}, fmt.Errorf("count MFA try of token %s: %w", tokenID, err)
		}
	}
	return Attempt{}, apperr.New(apperr.Conflict, "too many concurrent MFA attempts for this token; retry")
}

// Succeeded forgives the token's failures and back-off after a code was
// accepted. A lockout set by another try stays; one set by this very try is
// lifted (it was the right code).
func (t *Throttle) Succeeded(ctx context.Context, a Attempt) error {
	s, version := a.saved, a.version
	for i := range maxCASRetries {
		if i > 0 || version == 0 {
			var err error
			if s, version, err = t.store.LoadThrottle(ctx, a.TokenID); err != nil {
				return fmt.Errorf("read MFA failures of token %s: %w", a.TokenID, err)
			}
		}
		if s.Failures == 0 && s.Lockouts == 0 && s.LockSeq != a.Seq {
			return nil
		}
		s.Failures, s.WindowStart, s.Lockouts = 0, time.Time{}, 0
		if s.LockSeq == a.Seq {
			s.LockedUntil, s.LockSeq = time.Time{}, 0
		}
		_, err := t.store.SaveThrottle(ctx, a.TokenID, s, version)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("reset MFA failures of token %s: %w", a.TokenID, err)
		}
	}
	return apperr.New(apperr.Conflict, "too many concurrent MFA attempts for this token; retry")
}

// Failed turns the refusal of a counted try's code (cause: mfa_invalid or
// mfa_replayed) into the reply: the cause with the tries left, or
// apperr.MFALocked when this try spent the budget. Nothing is written: the
// try was counted when it began.
func (t *Throttle) Failed(a Attempt, cause error) error {
	if !a.LockedUntil.IsZero() {
		return lockedErr(a.TokenID, a.LockedUntil, t.now(),
			fmt.Sprintf("that code was not accepted either: after %d wrong codes in a row this token's MFA is locked", MaxMFAFailures))
	}
	left := MaxMFAFailures - a.N
	return apperr.Wrap(cause, apperr.Code(cause), "%s; %d more wrong code(s) lock this token's MFA", apperr.Details(cause), left)
}

// Unlock clears a token's failures, back-off and lockout, and returns the
// state it had.
func (t *Throttle) Unlock(ctx context.Context, tokenID string) (ThrottleState, error) {
	for range maxCASRetries {
		s, version, err := t.store.LoadThrottle(ctx, tokenID)
		if err != nil {
			return ThrottleState{}, fmt.Errorf("read MFA failures of token %s: %w", tokenID, err)
		}
		if version == 0 {
			return s, nil // never tried: nothing to clear
		}
		_, err = t.store.SaveThrottle(ctx, tokenID, ThrottleState{Seq: s.Seq}, version)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrConflict) {
			return ThrottleState{}, fmt.Errorf("unlock MFA of token %s: %w", tokenID, err)
		}
	}
	return ThrottleState{}, apperr.New(apperr.Conflict, "token %s is being tried concurrently; retry the unlock", tokenID)
}

// State returns a token's MFA failure record as of now: an expired lockout
// or stale failures read as none.
func (t *Throttle) State(ctx context.Context, tokenID string) (ThrottleState, error) {
	s, _, err := t.store.LoadThrottle(ctx, tokenID)
	if err != nil {
		return ThrottleState{}, fmt.Errorf("read MFA failures of token %s: %w", tokenID, err)
	}
	now := t.now()
	if !s.LockedUntil.IsZero() && !s.Locked(now) {
		s.Failures, s.LockedUntil, s.LockSeq = 0, time.Time{}, 0
	}
	if s.LockedUntil.IsZero() && now.Sub(s.WindowStart) >= MFAFailureWindow {
		s.Failures = 0
	}
	return s, nil
}

func lockedErr(tokenID string, until, now time.Time, why string) error {
	wait := max(until.Sub(now), time.Second)
	wait = (wait + time.Second - 1).Truncate(time.Second) // whole seconds, rounded up
	e := apperr.New(apperr.MFALocked,
		"%s: every code, right or wrong, is refused for %s (until %s); wait, or ask the operator to run: spotter token unlock %s",
		why, wait, until.UTC().Format(time.RFC3339), tokenID)
	e.RetryAfter = wait
	return e
}

// GuessBound is the most codes an attacker holding a token's URL can have
// checked in d, starting from a clean record: every lockout cycle lets
// MaxMFAFailures tries through and then waits out its lockout, and on top
// of that (counted separately, so the bound errs high) MaxMFAFailures−1
// tries per failure window that stop short of a lock.
func GuessBound(d time.Duration) int {
	n, elapsed := 0, time.Duration(0)
	for k := 1; elapsed < d; k++ {
		n += MaxMFAFailures
		elapsed += LockoutFor(k)
	}
	windows := int((d + MFAFailureWindow - 1) / MFAFailureWindow)
	return n + (MaxMFAFailures-1)*windows
}

// GuessOdds is the chance that at least one of n guesses is a code accepted
// at the time it is tried.
func GuessOdds(n int) float64 {
	p := float64(mfaAcceptedCodes) / math.Pow10(totpDigits.Length())
	return -math.Expm1(float64(n) * math.Log1p(-p))
}
