package capability_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/internal/testclock"
	"github.com/spotter-dev/spotter/token"
)

// mfaCounts counts ObserveMFA outcomes.
type mfaCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *mfaCounts) observe(mfaType, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	m.n[mfaType+"/"+outcome]++
}

func (m *mfaCounts) get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[key]
}

// replica is a Registry over the shared store, as another spotter process
// would have, reporting MFA outcomes to obs.
func replica(t *testing.T, st store, clk *clock, log *slog.Logger, obs *mfaCounts) *capability.Registry {
	t.Helper()
	auth, err := token.NewAuthority(st, token.Config{Issuer: "spotter", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.New(capability.Config{Store: st, Authority: auth, Logger: log, Now: clk.Now,
		PublicURL: "https://spotter.test", CacheTTL: time.Second, ObserveMFA: obs.observe})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCodes returns n distinct six-digit codes none of which is accepted
// at now (the codes of the steps before, at and after now are avoided).
func wrongCodes(t *testing.T, secret string, now time.Time, n int) []string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[codeAt(t, secret, now.Add(d))] = true
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		c := fmt.Sprintf("%06d", (i*7919+13)%1000000)
		if !valid[c] {
			out = append(out, c)
		}
	}
	return out
}

// TestMFALockout drives the MFA budget through two replicas sharing one
// store: exactly MaxMFAFailures wrong codes lock, a right code is refused
// unchecked and unspent while locked, the lockout ends by the clock and
// grows while wrong codes go on, and an unlock frees it on every replica.
func TestMFALockout(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			logs := &logBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			st := open(t, log)
			clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC))
			obs := &mfaCounts{}
			reg1, reg2 := replica(t, st, clk, log, obs), replica(t, st, clk, log, obs)
			created, err := reg1.Create(ctx, api.CreateTokenRequest{Name: "phone", MFA: &api.MFAInput{TOTP: true},
				Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
			if err != nil {
				t.Fatal(err)
			}
			secret := created.TOTP.Secret
			// check runs one code through the guard's MFA step on a replica,
			// as a request would: a fresh Authenticate each time.
			check := func(reg *capability.Registry, code string) error {
				t.Helper()
				tok, err := reg.Authenticate(ctx, created.Token)
				if err != nil {
					t.Fatal(err)
				}
				err = reg.CheckMFA(ctx, tok, code)
				for _, s := range []string{secret, created.Token} {
					if err != nil && strings.Contains(err.Error(), s) {
						t.Fatalf("an MFA error holds a secret: %v", err)
					}
				}
				return err
			}
			replicas := []*capability.Registry{reg1, reg2}
			// lockWith sends MaxMFAFailures wrong codes, alternating
			// replicas, and returns the wait the last one reports.
			lockWith := func(what string) time.Duration {
				t.Helper()
				wrong := wrongCodes(t, secret, clk.Now(), token.MaxMFAFailures)
				for i := range token.MaxMFAFailures - 1 {
					if err := check(replicas[i%2], wrong[i]); apperr.Code(err) != apperr.MFAInvalid {
						t.Fatalf("%s: wrong code %d of %d = %v; want mfa_invalid", what, i+1, token.MaxMFAFailures, err)
					}
				}
				err := check(replicas[(token.MaxMFAFailures-1)%2], wrong[token.MaxMFAFailures-1])
				if apperr.Code(err) != apperr.MFALocked {
					t.Fatalf("%s: wrong code %d = %v; want mfa_locked", what, token.MaxMFAFailures, err)
				}
				return apperr.RetryAfter(err)
			}

			t.Run("the limit locks, on every replica", func(t *testing.T) {
				if got := lockWith("first lockout"); got != token.MFALockoutBase {
					t.Fatalf("first lockout lasts %s; want %s", got, token.MFALockoutBase)
				}
				right := codeAt(t, secret, clk.Now())
				for i, reg := range replicas {
					err := check(reg, right)
					if apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != token.MFALockoutBase {
						t.Errorf("the right code on replica %d during the lockout = %v (retry after %s); want mfa_locked, %s", i+1, err, apperr.RetryAfter(err), token.MFALockoutBase)
					}
				}
				if n := obs.get("totp/locked"); n != 2 {
					t.Errorf("locked refusals observed: %d; want 2", n)
				}
			})

			t.Run("the lockout ends by the clock and grows", func(t *testing.T) {
				clk.Add(token.MFALockoutBase - time.Second)
				if err := check(reg2, "123456"); apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != time.Second {
					t.Fatalf("1 s before the end = %v (retry after %s); want mfa_locked, 1s", err, apperr.RetryAfter(err))
				}
				clk.Add(time.Second)
				for _, want := range []time.Duration{2 * token.MFALockoutBase, 4 * token.MFALockoutBase} {
					if got := lockWith("lockout of " + want.String()); got != want {
						t.Fatalf("lockout after a lockout lasts %s; want %s", got, want)
					}
					clk.Add(want)
				}
				lockWith("fourth lockout")
				info, _ := reg2.Get(ctx, created.ID)
				l, err := reg2.MFALock(ctx, info)
				if err != nil || l == nil || !l.Locked || l.Lockouts != 4 || l.Failures != token.MaxMFAFailures || l.LockedUntil == nil {
					t.Fatalf("MFALock = %+v, %v; want locked, 4 lockouts, %d failures", l, err, token.MaxMFAFailures)
				}
				if n := obs.get("totp/lockout"); n != 4 {
					t.Errorf("lockouts observed: %d; want 4", n)
				}
			})

			t.Run("a right code refused while locked stays unspent; unlock frees it", func(t *testing.T) {
				right := codeAt(t, secret, clk.Now())
				if err := check(reg1, right); apperr.Code(err) != apperr.MFALocked {
					t.Fatalf("right code while locked = %v; want mfa_locked", err)
				}
				info, was, err := reg1.UnlockMFA(ctx, created.ID)
				if err != nil || info.ID != created.ID || !was.Locked || was.Lockouts != 4 {
					t.Fatalf("UnlockMFA = %+v, %+v, %v; want the locked record it cleared", info, was, err)
				}
				if err := check(reg2, right); err != nil {
					t.Fatalf("the same right code on the other replica after unlock = %v; want it accepted (the lockout must not spend it)", err)
				}
				if err := check(reg1, right); apperr.Code(err) != apperr.MFAReplayed {
					t.Fatalf("that code again = %v; want mfa_replayed", err)
				}
			})

			t.Run("a right code forgives failures and back-off", func(t *testing.T) {
				clk.Add(30 * time.Second)
				wrong := wrongCodes(t, secret, clk.Now(), token.MaxMFAFailures-1)
				for _, c := range wrong[:token.MaxMFAFailures-2] {
					_ = check(reg1, c)
				}
				if err := check(reg2, codeAt(t, secret, clk.Now())); err != nil {
					t.Fatalf("right code = %v", err)
				}
				info, _ := reg1.Get(ctx, created.ID)
				if l, err := reg1.MFALock(ctx, info); err != nil || l.Failures != 0 || l.Lockouts != 0 || l.Locked {
					t.Fatalf("MFALock after a right code = %+v, %v; want clean", l, err)
				}
				if got := lockWith("lockout after a success"); got != token.MFALockoutBase {
					t.Fatalf("lockout after a success lasts %s; want the back-off back at %s", got, token.MFALockoutBase)
				}
				if _, _, err := reg2.UnlockMFA(ctx, created.ID); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("a missing or malformed code is refused and not counted", func(t *testing.T) {
				for _, c := range []string{"", "12345", "1234567", "12a456", "  "} {
					for range token.MaxMFAFailures {
						if err := check(reg1, c); apperr.Code(err) != apperr.MFARequired && apperr.Code(err) != apperr.MFAInvalid {
							t.Fatalf("code %q = %v; want mfa_required or mfa_invalid", c, err)
						}
					}
				}
				info, _ := reg1.Get(ctx, created.ID)
				if l, _ := reg1.MFALock(ctx, info); l.Failures != 0 || l.Locked {
					t.Fatalf("MFALock after malformed codes = %+v; want nothing counted", l)
				}
			})

			t.Run("concurrent wrong codes on two replicas check no more than the budget", func(t *testing.T) {
				c2, err := reg1.Create(ctx, api.CreateTokenRequest{Name: "race", MFA: &api.MFAInput{TOTP: true},
					Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
				if err != nil {
					t.Fatal(err)
				}
				wrong := wrongCodes(t, c2.TOTP.Secret, clk.Now(), 1)[0]
				before := obs.get("totp/failed") + obs.get("totp/lockout")
				var locked, lost atomic.Int32
				var wg sync.WaitGroup
				for i := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						reg := replicas[i%2]
						tok, err := reg.Authenticate(ctx, c2.Token)
						if err != nil {
							t.Error(err)
							return
						}
						for { // an attacker retries every lost race until locked out
							switch err := reg.CheckMFA(ctx, tok, wrong); apperr.Code(err) {
							case apperr.MFAInvalid:
							case apperr.Conflict:
								lost.Add(1)
							case apperr.MFALocked:
								locked.Add(1)
								return
							default:
								t.Errorf("CheckMFA = %v", err)
								return
							}
						}
					}()
				}
				wg.Wait()
				checked := obs.get("totp/failed") + obs.get("totp/lockout") - before
				if checked != token.MaxMFAFailures || locked.Load() != 16 {
					t.Fatalf("16 goroutines on 2 replicas had %d wrong codes checked (%d lost races retried, %d ended locked); want exactly %d",
						checked, lost.Load(), locked.Load(), token.MaxMFAFailures)
				}
			})

			if strings.Count(logs.String(), "capability token MFA locked") != 6 || !strings.Contains(logs.String(), `"token_id":"`+created.ID+`"`) {
				t.Errorf("want 6 lockout audit events naming the token; log:\n%s", logs.String())
			}
			if strings.Count(logs.String(), "capability token MFA unlocked") != 2 {
				t.Errorf("want 2 unlock audit events")
			}
			if strings.Contains(logs.String(), secret) {
				t.Error("the TOTP secret reached the log")
			}
		})
	}
}

// TestMFAAWS: an AWS MFA code counts as a try before STS sees it; STS's
// verdict, reported with SettleMFA, decides it; a locked token is refused
// before any STS call could be made.
func TestMFAAWS(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st := backends(t)["embedded"](t, log)
	clk := testclock.New(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	obs := &mfaCounts{}
	reg := replica(t, st, clk, log, obs)
	created, err := reg.Create(ctx, api.CreateTokenRequest{Name: "aws", MFA: &api.MFAInput{SerialNumber: "arn:aws:iam::123456789012:mfa/alice"},
		Credentials: &api.CredentialsInput{AccessKeyID: testAKID, SecretAccessKey: testSecret}, Policy: launchPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	stsRefused := apperr.New(apperr.MFAInvalid, "AWS refused the MFA code (wrong, expired or already used); wait for the next code and try again")
	try := func(stsErr error) error {
		t.Helper()
		tok, err := reg.Authenticate(ctx, created.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.CheckMFA(ctx, tok, "123456"); err != nil {
			return err // STS is never asked
		}
		return reg.SettleMFA(ctx, tok, stsErr)
	}
	for i := range token.MaxMFAFailures - 1 {
		if err := try(stsRefused); apperr.Code(err) != apperr.MFAInvalid {
			t.Fatalf("STS refusal %d = %v; want mfa_invalid", i+1, err)
		}
	}
	if err := try(nil); err != nil {
		t.Fatalf("STS accepting = %v", err)
	}
	if obs.get("aws/ok") != 1 || obs.get("aws/failed") != token.MaxMFAFailures-1 {
		t.Errorf("observed %v; want 1 ok and %d failed", obs.n, token.MaxMFAFailures-1)
	}
	// The success forgave the failures: a whole budget again.
	for i := range token.MaxMFAFailures - 1 {
		if err := try(stsRefused); apperr.Code(err) != apperr.MFAInvalid {
			t.Fatalf("STS refusal %d after a success = %v; want mfa_invalid", i+1, err)
		}
	}
	err = try(stsRefused)
	if apperr.Code(err) != apperr.MFALocked || apperr.RetryAfter(err) != token.MFALockoutBase {
		t.Fatalf("STS refusal %d = %v; want mfa_locked for %s", token.MaxMFAFailures, err, token.MFALockoutBase)
	}
	// Locked: CheckMFA refuses, so the caller never reaches STS.
	tok, _ := reg.Authenticate(ctx, created.Token)
	if err := reg.CheckMFA(ctx, tok, "654321"); apperr.Code(err) != apperr.MFALocked {
		t.Fatalf("CheckMFA while locked = %v; want mfa_locked", err)
	}
	// An error STS did not give about the code (AWS down) proves nothing: it stays counted.
	clk.Add(token.MFALockoutBase)
	down := apperr.New(apperr.AWSUnavailable, "STS did not answer")
	if err := try(down); apperr.Code(err) != apperr.AWSUnavailable {
		t.Fatalf("STS down = %v; want aws_unavailable unchanged", err)
	}
	info, _ := reg.Get(ctx, created.ID)
	if l, _ := reg.MFALock(ctx, info); l == nil || l.Failures != 1 {
		t.Fatalf("MFALock after STS was down = %+v; want the try counted", l)
	}
	// SettleMFA twice, or for a token without AWS MFA, passes the error through.
	tok, _ = reg.Authenticate(ctx, created.Token)
	if err := reg.CheckMFA(ctx, tok, "111111"); err != nil {
		t.Fatal(err)
	}
	_ = reg.SettleMFA(ctx, tok, stsRefused)
	if err := reg.SettleMFA(ctx, tok, nil); err != nil {
		t.Fatalf("second SettleMFA = %v", err)
	}
	if l, _ := reg.MFALock(ctx, info); l.Failures != 2 {
		t.Fatalf("a second SettleMFA changed the record: %+v", l)
	}
}
