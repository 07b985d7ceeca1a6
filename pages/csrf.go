package pages

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
)

// csrfCookie holds the page's anti-forgery value. The scheme is the
// double-submitted cookie: the page's GET sets a random value in a cookie
// scoped to this capability URL's path (Path=/hooks/<token>, HttpOnly,
// SameSite=Strict, Secure over TLS) and writes the same value into every
// form; a POST is taken only when the two agree. SameSite=Strict keeps the
// cookie off any request another site starts, and no other site can read
// or set it, so a forged form has no matching pair. It needs no server
// state and no key, so it holds across replicas and restarts; the path
// binds it to one capability token.
const csrfCookie = "spotter_csrf"

// csrfField is the form field that carries the value back.
const csrfField = "csrf"

var csrfRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// newRandom returns 32 random bytes, base64url: 43 characters.
func newRandom() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ensureCSRF returns the page's anti-forgery value, setting the cookie
// when the browser has none (or a malformed one).
func ensureCSRF(c echo.Context, tokenPath string) string {
	if ck, err := c.Cookie(csrfCookie); err == nil && csrfRE.MatchString(ck.Value) {
		return ck.Value
	}
	v := newRandom()
	c.SetCookie(&http.Cookie{
		Name: csrfCookie, Value: v, Path: tokenPath,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil,
		MaxAge: 12 * 3600,
	})
	return v
}

// checkCSRF refuses a form whose value does not match its cookie.
func checkCSRF(c echo.Context) error {
	sent := c.FormValue(csrfField)
	ck, err := c.Cookie(csrfCookie)
	switch {
	case sent == "":
		return apperr.New(apperr.Forbidden, "this form has no anti-forgery token (csrf): reload the capability page and submit its form again")
	case err != nil || !csrfRE.MatchString(ck.Value):
		return apperr.New(apperr.Forbidden, "the anti-forgery cookie is missing (cookies off, or it expired): reload the capability page and submit its form again")
	case subtle.ConstantTimeCompare([]byte(sent), []byte(ck.Value)) != 1:
		return apperr.New(apperr.Forbidden, "the form's anti-forgery token (csrf) does not match this browser's: reload the capability page and submit its form again")
	}
	return nil
}
