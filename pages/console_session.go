package pages

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// Console sessions live in the store, not in the cookie. The cookie holds
// 32 random bytes; the store keeps only their SHA-256 (a copy of the store
// signs no one in) with the expiry and the admin token's fingerprint. So:
// every replica sharing the store accepts the session; sign-out deletes
// it everywhere at once, which a sealed cookie could not do before its
// expiry; changing the admin token ends every session made under the old
// one. The cost is one store read per console request, which a console
// can afford and a webhook path never pays.
const (
	sessionCookie = "spotter_session"
	sessionPrefix = "console/sessions/"
	consolePath   = "/ui"
	// DefaultSessionTTL is how long a sign-in lasts: a working day.
	DefaultSessionTTL = 8 * time.Hour
	// sweepEach bounds the expired sessions one sign-in deletes.
	sweepEach = 100
)

type session struct {
	ID        string    `json:"-"` // the store key's hash part
	CSRF      string    `json:"-"` // derived from the cookie, never stored
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Admin     string    `json:"admin"` // the admin token's fingerprint
}

// sessionKey is the store key of a cookie value: its hash, never itself.
func sessionKey(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return sessionPrefix + hex.EncodeToString(sum[:])
}

// sessionCSRF is the session's anti-forgery value: a hash of the cookie
// under its own label. Only a holder of the cookie can compute it, and
// pages show it only to the session's own browser, so a form from another
// site cannot carry it; no server state is needed to check it.
func sessionCSRF(cookie string) string {
	sum := sha256.Sum256([]byte("spotter-console-csrf\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func sessionCookieOf(c echo.Context, value string, maxAge int, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookie, Value: value, Path: consolePath,
		MaxAge: maxAge, Expires: expires,
		// Secure even on the sandbox's plain HTTP: browsers keep Secure
		// cookies for loopback hosts, and nothing else is served plainly.
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	}
}

// newSession stores a session and sets its cookie.
func (p *Console) newSession(c echo.Context) error {
	ctx := c.Request().Context()
	value := newRandom()
	now := p.now().UTC()
	s := session{CreatedAt: now, ExpiresAt: now.Add(p.sessionTTL()), Admin: p.Admin.Fingerprint()}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := p.Store.Put(ctx, sessionKey(value), secrets.Record{Public: b}, secrets.CreateOnly); err != nil {
		return apperr.Wrap(err, apperr.Code(err), "could not keep the session: the store did not take it; sign in again")
	}
	c.SetCookie(sessionCookieOf(c, value, int(p.sessionTTL()/time.Second), s.ExpiresAt))
	p.sweep(ctx, now)
	p.sweepSignins(ctx, now)
	return nil
}

func (p *Console) sessionTTL() time.Duration {
	if p.SessionTTL > 0 {
		return p.SessionTTL
	}
	return DefaultSessionTTL
}

// sweep deletes expired sessions: sign-ins are rare and sessions few, so
// doing it here keeps the store clean without a timer of its own.
func (p *Console) sweep(ctx context.Context, now time.Time) {
	keys, err := secrets.ListAfter(ctx, p.Store, sessionPrefix, "", 10*sweepEach)
	if err != nil {
		return
	}
	n := 0
	for _, k := range keys {
		if n == sweepEach {
			return
		}
		key := sessionPrefix + strings.TrimPrefix(k, sessionPrefix)
		rec, err := p.Store.Get(ctx, key)
		if err != nil {
			continue
		}
		var s session
		if json.Unmarshal(rec.Public, &s) != nil || !now.Before(s.ExpiresAt) {
			_ = p.Store.Delete(ctx, key)
			n++
		}
	}
}

// current returns the request's live session, or an error that the
// console answers with its sign-in page.
func (p *Console) current(c echo.Context) (session, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || !csrfRE.MatchString(ck.Value) {
		return session{}, errNoSession
	}
	ctx := c.Request().Context()
	key := sessionKey(ck.Value)
	rec, err := p.Store.Get(ctx, key)
	if errors.Is(err, secrets.ErrNotFound) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	var s session
	if err := json.Unmarshal(rec.Public, &s); err != nil {
		return session{}, errNoSession
	}
	fp := p.Admin.Fingerprint()
	if !p.now().Before(s.ExpiresAt) || subtle.ConstantTimeCompare([]byte(s.Admin), []byte(fp)) != 1 {
		_ = p.Store.Delete(ctx, key)
		return session{}, errNoSession
	}
	s.ID, s.CSRF = key, sessionCSRF(ck.Value)
	return s, nil
}

var errNoSession = apperr.New(apperr.Unauth, "sign in to the console with the admin token at /ui/signin")

// ctxSession is where requireSession leaves the session for the handler.
const ctxSession = "spotter.console_session"

// RequireSession guards every console route but sign-in: without a live
// session a page view is sent to sign in, and anything else is refused
// with 401 before its handler runs.
func (p *Console) RequireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, err := p.current(c)
		if err != nil {
			if errors.Is(err, errNoSession) && c.Request().Method == http.MethodGet {
				return c.Redirect(http.StatusSeeOther, consolePath+"/signin")
			}
			return err
		}
		c.Set(ctxSession, s)
		return next(c)
	}
}

func sessionOf(c echo.Context) session {
	s, _ := c.Get(ctxSession).(session)
	return s
}

// checkSessionCSRF refuses a console form whose anti-forgery value is not
// the session's.
func checkSessionCSRF(c echo.Context) error {
	s := sessionOf(c)
	sent := c.FormValue(csrfField)
	switch {
	case sent == "":
		return apperr.New(apperr.Forbidden, "this form has no anti-forgery token (csrf): reload the console page and submit its form again")
	case s.CSRF == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(s.CSRF)) != 1:
		return apperr.New(apperr.Forbidden, "the form's anti-forgery token (csrf) is not this session's: reload the console page and submit its form again")
	}
	return nil
}

// endSession deletes the session everywhere and clears its cookie.
func (p *Console) endSession(c echo.Context) error {
	s := sessionOf(c)
	if s.ID != "" {
		if err := p.Store.Delete(c.Request().Context(), s.ID); err != nil {
			return err
		}
	}
	c.SetCookie(sessionCookieOf(c, "", -1, time.Unix(0, 0)))
	return nil
}
