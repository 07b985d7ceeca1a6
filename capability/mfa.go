package capability

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// MFA outcomes passed to Config.ObserveMFA.
const (
	MFAOutcomeOK      = "ok"      // the code was accepted
	MFAOutcomeFailed  = "failed"  // a wrong (or reused) code, counted
	MFAOutcomeLockout = "lockout" // a wrong code that spent the budget: the token locked
	MFAOutcomeLocked  = "locked"  // refused unchecked: the token was locked
)

// mfaTry is the counted try of a request whose code is checked later, by
// STS (AWS MFA). A pointer in Token, so the copies the pipeline passes on
// share it; one request owns it.
type mfaTry struct {
	mu      sync.Mutex
	attempt token.Attempt
	pending bool
}

// CheckMFA is the last step of the guard. Every code it is given counts as
// a try against the token's budget, across replicas, before anything
// checks it; while the token is locked no code is checked at all, so a
// right one is refused and stays unspent. A missing code (mfa_required) or
// one that is not six digits (mfa_invalid) is refused unchecked and does
// not count: it tells the caller nothing about the code.
//
// For a spotter-checked TOTP it then accepts each code once across
// replicas. For AWS MFA the code goes to STS when the session is made:
// the caller reports STS's verdict with SettleMFA.
func (r *Registry) CheckMFA(ctx context.Context, t Token, code string) error {
	switch t.MFA.Type {
	case api.MFATOTP:
		if _, err := token.NormaliseCode(code); err != nil {
			return err
		}
		// Counted first: a locked token is refused without decrypting anything.
		a, err := r.beginMFA(ctx, t)
		if err != nil {
			return err
		}
		sec, err := r.secrets(ctx, t)
		if err != nil {
			return err // the try stays counted: nothing proved the code right
		}
		return r.settleMFA(ctx, t, a, r.totp.Check(ctx, t.ID, sec.TOTPSecret, code))
	case api.MFAAWS:
		if code == "" {
			return apperr.New(apperr.MFARequired, "this token needs the current code of MFA device %s in mfaCode", t.MFA.SerialNumber)
		}
		if len(code) != 6 || !isDigits(code) {
			return apperr.New(apperr.MFAInvalid, "an MFA code is six digits")
		}
		a, err := r.beginMFA(ctx, t)
		if err != nil {
			return err
		}
		if t.mfa == nil {
			return errors.New("capability: an AWS MFA token not from Authenticate")
		}
		t.mfa.mu.Lock()
		t.mfa.attempt, t.mfa.pending = a, true
		t.mfa.mu.Unlock()
	}
	return nil
}

// SettleMFA reports the outcome of the STS call that carried an AWS MFA
// code CheckMFA counted: err is that call's error, returned as the reply
// should carry it (mfa_locked when this wrong code spent the budget). A
// success forgives the token's failures; mfa_invalid stays counted, as does
// any other failure, which cannot prove the code right. For other tokens,
// or a second call, it returns err unchanged.
func (r *Registry) SettleMFA(ctx context.Context, t Token, err error) error {
	if t.MFA.Type != api.MFAAWS || t.mfa == nil {
		return err
	}
	t.mfa.mu.Lock()
	a, pending := t.mfa.attempt, t.mfa.pending
	t.mfa.pending = false
	t.mfa.mu.Unlock()
	if !pending {
		return err
	}
	return r.settleMFA(ctx, t, a, err)
}

func (r *Registry) beginMFA(ctx context.Context, t Token) (token.Attempt, error) {
	a, err := r.throttle.Begin(ctx, t.ID)
	if apperr.Code(err) == apperr.MFALocked {
		r.observeMFA(t, MFAOutcomeLocked)
	}
	return a, err
}

// settleMFA ends a counted try with the checker's verdict err.
func (r *Registry) settleMFA(ctx context.Context, t Token, a token.Attempt, err error) error {
	switch apperr.Code(err) {
	case apperr.MFAInvalid, apperr.MFAReplayed:
	default:
		if err == nil {
			r.observeMFA(t, MFAOutcomeOK)
			if rerr := r.throttle.Succeeded(ctx, a); rerr != nil {
				// The code was accepted (and spent); failing the request now
				// would waste it. The failures stay counted until the next success.
				r.log.WarnContext(ctx, "MFA failures not reset after an accepted code", "token_id", t.ID, "error", rerr)
			}
		}
		return err
	}
	if a.LockedUntil.IsZero() {
		r.observeMFA(t, MFAOutcomeFailed)
	} else {
		r.observeMFA(t, MFAOutcomeLockout)
		r.log.WarnContext(ctx, "capability token MFA locked", "token_id", t.ID, "mfa", t.MFA.Type,
			"failures", a.N, "locked_until", a.LockedUntil, "lockout", a.LockedUntil.Sub(r.now()).Round(time.Second).String())
	}
	return r.throttle.Failed(a, err)
}

func (r *Registry) observeMFA(t Token, outcome string) {
	if r.cfg.ObserveMFA != nil {
		r.cfg.ObserveMFA(t.MFA.Type, outcome)
	}
}

func lockView(s token.ThrottleState, now time.Time) api.MFALock {
	l := api.MFALock{Locked: s.Locked(now), Failures: s.Failures, Lockouts: s.Lockouts}
	if l.Locked {
		u := s.LockedUntil.UTC()
		l.LockedUntil = &u
	}
	return l
}

// MFALock returns the token's MFA failure record; nil for a token without MFA.
func (r *Registry) MFALock(ctx context.Context, info Info) (*api.MFALock, error) {
	if info.MFA.Type == api.MFANone || info.MFA.Type == "" {
		return nil, nil
	}
	s, err := r.throttle.State(ctx, info.ID)
	if err != nil {
		return nil, err
	}
	l := lockView(s, r.now())
	return &l, nil
}

// UnlockMFA clears a token's MFA failures, back-off and lockout (admin).
// It returns the token and the record as it was.
func (r *Registry) UnlockMFA(ctx context.Context, id string) (Info, api.MFALock, error) {
	rec, err := r.load(ctx, id, true)
	if err != nil {
		return Info{}, api.MFALock{}, err
	}
	if rec.MFA.Type == api.MFANone {
		return rec.Info, api.MFALock{}, apperr.New(apperr.Invalid, "token %s has no MFA to unlock", id)
	}
	before, err := r.throttle.Unlock(ctx, id)
	if err != nil {
		return Info{}, api.MFALock{}, err
	}
	was := lockView(before, r.now())
	r.log.InfoContext(ctx, "capability token MFA unlocked", "token_id", id,
		"was_locked", was.Locked, "failures", was.Failures, "lockouts", was.Lockouts)
	return rec.Info, was, nil
}

const mfaPrefix = "mfa/"

// ThrottleStore keeps token.Throttle's failure records at Prefix+key in a
// store (MFA tries at "mfa/<token id>", console sign-ins per address), so
// every replica sharing the store counts the same tries.
type ThrottleStore struct {
	Store  secrets.Store
	Prefix string
}

func (s ThrottleStore) LoadThrottle(ctx context.Context, key string) (token.ThrottleState, int, error) {
	rec, err := s.Store.Get(ctx, s.Prefix+key)
	if errors.Is(err, secrets.ErrNotFound) {
		return token.ThrottleState{}, 0, nil
	}
	if err != nil {
		return token.ThrottleState{}, 0, err
	}
	var st token.ThrottleState
	if err := json.Unmarshal(rec.Public, &st); err != nil {
		return token.ThrottleState{}, 0, err
	}
	return st, rec.Version, nil
}

func (s ThrottleStore) SaveThrottle(ctx context.Context, key string, st token.ThrottleState, version int) (int, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	cas := version
	if version == 0 {
		cas = secrets.CreateOnly
	}
	return s.Store.Put(ctx, s.Prefix+key, secrets.Record{Public: b}, cas)
}
