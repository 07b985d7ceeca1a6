package pages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
	"github.com/spotter-dev/spotter/secrets"
	"github.com/spotter-dev/spotter/token"
)

// A wrong admin token at sign-in is a guess, so sign-in is throttled as
// an MFA code is (token.Throttle: a few tries, then lockouts that double),
// counted per client address in the store so every replica counts the
// same tries. The admin API's bearer token is long and random; this bounds
// the noise and the odds all the same. Behind a proxy that is not
// trusted every client shares the proxy's address: a flood of wrong
// tokens then locks sign-in for everyone until it ends (the admin API and
// existing sessions keep working).
const signinPrefix = "console/signin/"

// signinStore counts sign-in tries per client address.
func signinStore(st secrets.Store) capability.ThrottleStore {
	return capability.ThrottleStore{Store: st, Prefix: signinPrefix}
}

// clientKey names a client address in the store without writing it there.
func clientKey(ip string) string {
	sum := sha256.Sum256([]byte("spotter-console-signin\x00" + ip))
	return hex.EncodeToString(sum[:16])
}

type signinView struct {
	consolePage
	Error string
}

// SignInForm serves GET /ui/signin. Its form carries a double-submitted
// anti-forgery value (there is no session yet), so another site cannot
// sign a browser in under an admin token of its choosing.
func (p *Console) SignInForm(c echo.Context) error {
	if _, err := p.current(c); err == nil {
		return c.Redirect(http.StatusSeeOther, consolePath+"/")
	}
	v := signinView{consolePage: consolePage{Title: "Sign in", CSRF: ensureCSRF(c, consolePath)}}
	return p.render(c, http.StatusOK, "console_signin.html", v)
}

// SignIn serves POST /ui/signin: the admin token for a session cookie.
func (p *Console) SignIn(c echo.Context) error {
	if err := checkCSRF(c); err != nil {
		return err
	}
	ctx := c.Request().Context()
	key := clientKey(c.RealIP())
	try, err := p.throttle.Begin(ctx, key)
	if apperr.Code(err) == apperr.MFALocked {
		wait := apperr.RetryAfter(err)
		e := apperr.New(apperr.RateLimited, "too many wrong admin tokens from this address: sign-in is refused for %s; wait, then try again", wait)
		e.RetryAfter = wait
		p.signinAudit(c, "locked")
		return e
	}
	if err != nil {
		return err
	}
	tok := strings.TrimSpace(c.FormValue("token"))
	if tok == "" || p.Admin.Check("Bearer "+tok) != nil {
		p.signinAudit(c, "refused")
		left := token.MaxMFAFailures - try.N
		msg := fmt.Sprintf("That is not the admin token. %d more wrong tries lock sign-in from this address.", left)
		status := http.StatusUnauthorized
		if !try.LockedUntil.IsZero() {
			wait := (try.LockedUntil.Sub(p.now()) + time.Second - 1).Truncate(time.Second)
			msg = fmt.Sprintf("That is not the admin token either. Sign-in from this address is locked for %s; wait, then try again.", wait)
			status = http.StatusTooManyRequests
			c.Response().Header().Set("Retry-After", fmt.Sprint(int64(wait/time.Second)))
		}
		v := signinView{consolePage: consolePage{Title: "Sign in", CSRF: ensureCSRF(c, consolePath)}, Error: msg}
		return p.render(c, status, "console_signin.html", v)
	}
	if err := p.throttle.Succeeded(ctx, try); err != nil {
		return err
	}
	if err := p.newSession(c); err != nil {
		return err
	}
	p.signinAudit(c, "ok")
	return c.Redirect(http.StatusSeeOther, consolePath+"/?did=signedin")
}

// SignOut serves POST /ui/signout: the session ends on every replica.
func (p *Console) SignOut(c echo.Context) error {
	if err := checkSessionCSRF(c); err != nil {
		return err
	}
	if err := p.endSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, consolePath+"/signin")
}

// signinAudit logs a sign-in as an audit event (no token id: it is no
// capability's event, and the typed token is never logged).
func (p *Console) signinAudit(c echo.Context, outcome string) {
	p.Audit.LogAttrs(c.Request().Context(), slog.LevelInfo, "audit", slog.String("event", "console_signin"),
		slog.String("outcome", outcome), slog.String("client", c.RealIP()),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
}

// sweepSignins deletes the sign-in records of addresses whose tries no
// longer count (no lockout in force, the failure window over), so
// addresses that tried once do not pile up in the store.
func (p *Console) sweepSignins(ctx context.Context, now time.Time) {
	keys, err := secrets.ListAfter(ctx, p.Store, signinPrefix, "", 10*sweepEach)
	if err != nil {
		return
	}
	n := 0
	for _, k := range keys {
		if n == sweepEach {
			return
		}
		name := strings.TrimPrefix(k, signinPrefix)
		st, version, err := signinStore(p.Store).LoadThrottle(ctx, name)
		if err != nil || version == 0 || st.Locked(now) || now.Sub(st.WindowStart) < token.MFAFailureWindow {
			continue
		}
		_ = p.Store.Delete(ctx, signinPrefix+name)
		n++
	}
}
