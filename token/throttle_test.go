package token

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/apperr"
)

// memThrottle is a ThrottleStore with version check-and-set, answering a
// lost race as secrets.Store does.
type memThrottle struct {
	mu     sync.Mutex
	states map[string]ThrottleState
	vers   map[string]int
	loads  atomic.Int64
	saves  atomic.Int64
}

var _ ThrottleStore = (*memThrottle)(nil)

func (m *memThrottle) LoadThrottle(_ context.Context, id string) (ThrottleState, int, error) {
	m.loads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[id], m.vers[id], nil
}

func (m *memThrottle) SaveThrottle(_ context.Context, id string, s ThrottleState, version int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states, m.vers = map[string]ThrottleState{}, map[string]int{}
	}
	if m.vers[id] != version {
		return 0, apperr.New(apperr.Conflict, "version moved")
	}
	m.states[id], m.vers[id] = s, version+1
	m.saves.Add(1)
	return version + 1, nil
}

var errWrong = apperr.New(apperr.MFAInvalid, "the MFA code is wrong or out of date")

// fail makes one wrong try and returns the reply.
func fail(t *testing.T, th *Throttle, id string) error {
	t.Helper()
	a, err := th.Begin(context.Background(), id)
	if err != nil {
		return err
	}
	return th.Failed(a, errWrong)
}

func TestThrottleLocksAtTheLimit(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	th := NewThrottle(&memThrottle{}, clk.Now)
	for i := 1; i < MaxMFAFailures; i++ {
		err := fail(t, th, "tok")
		if apperr.Code(err) != apperr.MFAInvalid {
			t.Fatalf("wrong code %d of %d = %v; want mfa_invalid", i, MaxMFAFailures, err)
		}
		if want := "; " + string(rune('0'+MaxMFAFailures-i)) + " more wrong code(s) lock"; !strings.Contains(apperr.Details(err), want) {
			t.Errorf("wrong code %d details %q; want them to say %q", i, apperr.Details(err), want)
		}
	}
	err := fail(t, th, "tok")
	if apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != MFALockoutBase {
		t.Fatalf("wrong code %d = %v (retry after %s); want mfa_locked for %s", MaxMFAFailures, err, apperr.RetryAfter(err), MFALockoutBase)
	}
	if !strings.Contains(apperr.Details(err), "spotter token unlock tok") {
		t.Errorf("lock details %q do not say how to unlock", apperr.Details(err))
	}

	// Locked: no try is counted, whatever its code; Retry-After counts down.
	clk.Add(20 * time.Second)
	_, err = th.Begin(context.Background(), "tok")
	if apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != 40*time.Second {
		t.Fatalf("try 20 s into the lockout = %v (retry after %s); want mfa_locked, retry after 40s", err, apperr.RetryAfter(err))
	}
	clk.Add(40*time.Second - time.Millisecond)
	if _, err = th.Begin(context.Background(), "tok"); apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != time.Second {
		t.Fatalf("try 1 ms before the lockout ends = %v (retry after %s); want mfa_locked, retry after 1s", err, apperr.RetryAfter(err))
	}
	clk.Add(time.Millisecond)
	a, err := th.Begin(context.Background(), "tok")
	if err != nil || a.N != 1 {
		t.Fatalf("try when the lockout ends = %+v, %v; want the first try of a new budget", a, err)
	}
}

func TestThrottleBackOff(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	th := NewThrottle(&memThrottle{}, clk.Now)
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
		32 * time.Minute, 64 * time.Minute, 128 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	for i, w := range want {
		if got := LockoutFor(i + 1); got != w {
			t.Errorf("LockoutFor(%d) = %s; want %s", i+1, got, w)
		}
		var err error
		for range MaxMFAFailures {
			err = fail(t, th, "tok")
		}
		if apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != w {
			t.Fatalf("lockout %d = %v (retry after %s); want %s", i+1, err, apperr.RetryAfter(err), w)
		}
		clk.Add(w)
	}
	if got := LockoutFor(1000); got != MFALockoutMax {
		t.Errorf("LockoutFor(1000) = %s; want the cap %s", got, MFALockoutMax)
	}
}

func TestThrottleSuccess(t *testing.T) {
	ctx := context.Background()
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))

	t.Run("forgives failures and back-off", func(t *testing.T) {
		th := NewThrottle(&memThrottle{}, clk.Now)
		for range MaxMFAFailures {
			_ = fail(t, th, "tok")
		}
		clk.Add(MFALockoutBase)
		for range MaxMFAFailures - 1 {
			_ = fail(t, th, "tok")
		}
		a, err := th.Begin(ctx, "tok")
		if err != nil || a.N != MaxMFAFailures {
			t.Fatalf("Begin = %+v, %v; want the last try of the budget", a, err)
		}
		if err := th.Succeeded(ctx, a); err != nil {
			t.Fatal(err)
		}
		s, _ := th.State(ctx, "tok")
		if s.Failures != 0 || s.Lockouts != 0 || s.Locked(clk.Now()) {
			t.Fatalf("state after the right code on the last try = %+v; want clean", s)
		}
		for i := 1; i < MaxMFAFailures; i++ {
			if err := fail(t, th, "tok"); apperr.Code(err) != apperr.MFAInvalid {
				t.Fatalf("wrong code %d after a success = %v; want a fresh budget", i, err)
			}
		}
		if err := fail(t, th, "tok"); apperr.RetryAfter(err) != MFALockoutBase {
			t.Fatalf("lockout after a success = %v; want the back-off back at %s", err, MFALockoutBase)
		}
	})

	t.Run("does not lift another try's lockout", func(t *testing.T) {
		th := NewThrottle(&memThrottle{}, clk.Now)
		first, err := th.Begin(ctx, "tok") // in flight while others fail
		if err != nil {
			t.Fatal(err)
		}
		for range MaxMFAFailures - 1 {
			_ = fail(t, th, "tok")
		}
		if err := th.Succeeded(ctx, first); err != nil {
			t.Fatal(err)
		}
		if _, err := th.Begin(ctx, "tok"); apperr.Code(err) != apperr.MFALocked {
			t.Fatalf("Begin after a success during a lockout = %v; want mfa_locked", err)
		}
		s, _ := th.State(ctx, "tok")
		if s.Failures != 0 || !s.Locked(clk.Now()) {
			t.Errorf("state = %+v; want failures forgiven, the lockout kept", s)
		}
	})
}

func TestThrottleWindow(t *testing.T) {
	for _, tt := range []struct {
		name    string
		gap     time.Duration
		wantErr string
	}{
		{name: "inside the window", gap: MFAFailureWindow - time.Second, wantErr: apperr.MFALocked},
		{name: "at the window", gap: MFAFailureWindow, wantErr: apperr.MFAInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
			th := NewThrottle(&memThrottle{}, clk.Now)
			_ = fail(t, th, "tok")
			clk.Add(tt.gap)
			var err error
			for range MaxMFAFailures - 1 {
				err = fail(t, th, "tok")
			}
			if apperr.Code(err) != tt.wantErr {
				t.Fatalf("wrong code %d, the first %s earlier = %v; want %s", MaxMFAFailures, tt.gap, err, tt.wantErr)
			}
		})
	}
	t.Run("State forgets stale failures", func(t *testing.T) {
		ctx := context.Background()
		clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		th := NewThrottle(&memThrottle{}, clk.Now)
		_ = fail(t, th, "tok")
		_ = fail(t, th, "tok")
		clk.Add(MFAFailureWindow - time.Second)
		if s, _ := th.State(ctx, "tok"); s.Failures != 2 {
			t.Errorf("State 1 s inside the window = %+v; want 2 failures", s)
		}
		clk.Add(time.Second)
		if s, _ := th.State(ctx, "tok"); s.Failures != 0 {
			t.Errorf("State at the window's end = %+v; want none", s)
		}
		for range MaxMFAFailures {
			_ = fail(t, th, "tok")
		}
		clk.Add(MFAFailureWindow) // a lockout's failures show while it lasts, then go
		if s, _ := th.State(ctx, "tok"); s.Failures != 0 || s.Locked(clk.Now()) || s.Lockouts != 1 {
			t.Errorf("State after the lockout = %+v; want no failures, unlocked, 1 lockout", s)
		}
	})
}

func TestGuessBoundEdges(t *testing.T) {
	// Cycles start at 0, 1, 3, 7, 15, 31, 63, 127 and 255 minutes, then
	// every 4 h; each lets MaxMFAFailures through, plus MaxMFAFailures−1
	// per failure window begun.
	tests := []struct {
		d    time.Duration
		want int
	}{
		{d: time.Nanosecond, want: 5 + 4},
		{d: time.Minute, want: 5 + 4},
		{d: time.Minute + time.Nanosecond, want: 10 + 4},
		{d: 255 * time.Minute, want: 40 + 4},
		{d: 255*time.Minute + time.Nanosecond, want: 45 + 4},
		{d: 24 * time.Hour, want: 65 + 4},
		{d: 24*time.Hour + time.Nanosecond, want: 65 + 8},
		{d: 30 * 24 * time.Hour, want: 935 + 120},
	}
	for _, tt := range tests {
		if got := GuessBound(tt.d); got != tt.want {
			t.Errorf("GuessBound(%s) = %d; want %d", tt.d, got, tt.want)
		}
	}
}

func TestThrottleUnlock(t *testing.T) {
	ctx := context.Background()
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	th := NewThrottle(&memThrottle{}, clk.Now)
	if s, err := th.Unlock(ctx, "never"); err != nil || s.Failures != 0 {
		t.Fatalf("Unlock of a token never tried = %+v, %v", s, err)
	}
	for range 3 * MaxMFAFailures {
		_ = fail(t, th, "tok")
		if s, _ := th.State(ctx, "tok"); s.Locked(clk.Now()) {
			clk.Add(s.LockedUntil.Sub(clk.Now()))
		}
	}
	for range MaxMFAFailures {
		_ = fail(t, th, "tok")
	}
	before, err := th.Unlock(ctx, "tok")
	if err != nil || !before.Locked(clk.Now()) || before.Lockouts != 4 {
		t.Fatalf("Unlock = %+v, %v; want the locked state (4 lockouts) it cleared", before, err)
	}
	if s, _ := th.State(ctx, "tok"); s.Failures != 0 || s.Lockouts != 0 || s.Locked(clk.Now()) {
		t.Fatalf("state after unlock = %+v; want clean", s)
	}
	for range MaxMFAFailures {
		err = fail(t, th, "tok")
	}
	if apperr.RetryAfter(err) != MFALockoutBase {
		t.Errorf("lockout after an unlock = %v; want the back-off back at %s", err, MFALockoutBase)
	}
}

// TestThrottleConcurrentTries: however many tries race, no more than the
// budget get past Begin, so no more codes are ever checked.
func TestThrottleConcurrentTries(t *testing.T) {
	th := NewThrottle(&memThrottle{}, newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)).Now)
	var began, locked, conflict atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := th.Begin(context.Background(), "tok")
				if err == nil {
					began.Add(1)
					return
				}
				switch apperr.Code(err) {
				case apperr.MFALocked:
					locked.Add(1)
					return
				case apperr.Conflict:
					conflict.Add(1) // an attacker retries
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if began.Load() != MaxMFAFailures || locked.Load() != 64-MaxMFAFailures {
		t.Fatalf("64 racing tries: %d began, %d locked (%d lost races retried); want exactly %d to begin",
			began.Load(), locked.Load(), conflict.Load(), MaxMFAFailures)
	}
}

// TestGuessBound is the security model's arithmetic, from the constants the
// throttle uses: a brute-force attacker at the limit, simulated against the
// real Throttle for 30 days, gets no more codes checked than GuessBound,
// and GuessBound's odds stay under 1 % a month.
func TestGuessBound(t *testing.T) {
	const month = 30 * 24 * time.Hour
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(start)
	th := NewThrottle(&memThrottle{}, clk.Now)
	tries := 0
	for clk.Now().Sub(start) < month {
		err := fail(t, th, "tok")
		switch apperr.Code(err) {
		case apperr.MFAInvalid:
			tries++
		case apperr.MFALocked:
			if !errors.Is(err, &apperr.Error{Code: apperr.MFALocked}) {
				t.Fatal(err)
			}
			if strings.Contains(apperr.Details(err), "not accepted either") {
				tries++ // the try that locked was checked too
			}
			clk.Add(apperr.RetryAfter(err))
		default:
			t.Fatal(err)
		}
	}
	bound := GuessBound(month)
	if tries > bound {
		t.Fatalf("a simulated attacker had %d codes checked in 30 days; GuessBound says at most %d", tries, bound)
	}
	odds := GuessOdds(bound)
	day := float64(MaxMFAFailures) * float64(24*time.Hour) / float64(MFALockoutMax)
	t.Logf("at the limit: %.0f guesses a day once the back-off is at its cap; %d simulated and at most %d in 30 days; odds of a right guess in 30 days ≤ %.3f %%",
		day, tries, bound, 100*odds)
	if !(odds < 0.01) { // NaN fails too
		t.Fatalf("an attacker at the limit has a %.2f %% chance to guess a code in 30 days; the constants must keep it under 1 %%", 100*odds)
	}
	// The odds themselves: one guess is 3 in a million, and they compound.
	for _, n := range []int{1, 1000, bound} {
		if got, want := GuessOdds(n), 1-math.Pow(1-3e-6, float64(n)); !(math.Abs(got-want) <= 1e-12) { // NaN fails too
			t.Errorf("GuessOdds(%d) = %g; want 1-(1-3e-6)^%d = %g (3 codes accepted of 10^6)", n, got, n, want)
		}
	}
}

// lostRaces is a ThrottleStore on which every write loses a race.
type lostRaces struct{ loads, saves atomic.Int64 }

func (l *lostRaces) LoadThrottle(context.Context, string) (ThrottleState, int, error) {
	l.loads.Add(1)
	return ThrottleState{Failures: 1, Seq: 1}, 1, nil
}

func (l *lostRaces) SaveThrottle(context.Context, string, ThrottleState, int) (int, error) {
	l.saves.Add(1)
	return 0, apperr.New(apperr.Conflict, "version moved")
}

// failing is a ThrottleStore that cannot be reached.
type failing struct{}

func (failing) LoadThrottle(context.Context, string) (ThrottleState, int, error) {
	return ThrottleState{}, 0, apperr.New(apperr.Unavailable, "store down")
}

func (failing) SaveThrottle(context.Context, string, ThrottleState, int) (int, error) {
	return 0, apperr.New(apperr.Unavailable, "store down")
}

// TestThrottleFailsClosed: a store that cannot count a try refuses it, and
// the check-and-set loops give up after maxCASRetries writes.
func TestThrottleFailsClosed(t *testing.T) {
	ctx := context.Background()
	now := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)).Now
	ops := map[string]func(*Throttle) error{
		"Begin":     func(th *Throttle) error { _, err := th.Begin(ctx, "tok"); return err },
		"Succeeded": func(th *Throttle) error { return th.Succeeded(ctx, Attempt{TokenID: "tok", Seq: 1}) },
		"Unlock":    func(th *Throttle) error { _, err := th.Unlock(ctx, "tok"); return err },
	}
	for name, op := range ops {
		t.Run(name+" lost races", func(t *testing.T) {
			st := &lostRaces{}
			if err := op(NewThrottle(st, now)); apperr.Code(err) != apperr.Conflict {
				t.Fatalf("%s on a store that always loses = %v; want conflict", name, err)
			}
			if st.saves.Load() != maxCASRetries || st.loads.Load() != maxCASRetries {
				t.Errorf("%s tried %d writes after %d reads; want exactly %d of each", name, st.saves.Load(), st.loads.Load(), maxCASRetries)
			}
		})
		t.Run(name+" store down", func(t *testing.T) {
			err := op(NewThrottle(failing{}, now))
			if err == nil || apperr.Code(err) == apperr.MFAInvalid || !errors.Is(err, &apperr.Error{Code: apperr.Unavailable}) {
				t.Fatalf("%s with the store down = %v; want the store's error", name, err)
			}
		})
	}
}

// TestSucceededSkipsTheRead: the reset after a right code writes over the
// record Begin wrote without reading it again, unless another try came in
// between; then it reads, and keeps that try's lockout.
func TestSucceededSkipsTheRead(t *testing.T) {
	ctx := context.Background()
	clk := newClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	st := &memThrottle{}
	th := NewThrottle(st, clk.Now)
	a, err := th.Begin(ctx, "tok")
	if err != nil {
		t.Fatal(err)
	}
	loads := st.loads.Load()
	if err := th.Succeeded(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := st.loads.Load() - loads; n != 0 {
		t.Errorf("uncontended Succeeded read the record %d times; want 0", n)
	}
	saves := st.saves.Load()
	if err := th.Succeeded(ctx, a); err != nil || st.saves.Load() != saves {
		t.Errorf("Succeeded on a clean record = %v after %d writes; want none", err, st.saves.Load()-saves)
	}
	if s, _ := th.State(ctx, "tok"); s.Failures != 0 {
		t.Fatalf("state = %+v; want the try forgiven", s)
	}

	a, _ = th.Begin(ctx, "tok")
	for range MaxMFAFailures - 1 {
		_ = fail(t, th, "tok") // the last of these locks
	}
	loads = st.loads.Load()
	if err := th.Succeeded(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := st.loads.Load() - loads; n != 1 {
		t.Errorf("Succeeded after other tries read the record %d times; want 1", n)
	}
	if s, _ := th.State(ctx, "tok"); s.Failures != 0 || !s.Locked(clk.Now()) {
		t.Fatalf("state = %+v; want failures forgiven and the other try's lockout kept", s)
	}
}
