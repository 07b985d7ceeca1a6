package pages

import (
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/secrets"
)

// fakeAdmin is an admin token whose value the test can change.
type fakeAdmin struct{ token string }

func (a *fakeAdmin) Check(h string) error {
	if subtle.ConstantTimeCompare([]byte(h), []byte("Bearer "+a.token)) != 1 {
		return apperr.New(apperr.Unauth, "no")
	}
	return nil
}
func (a *fakeAdmin) Fingerprint() string { return "fp-" + a.token }

// TestSessionLife: a session lasts exactly its TTL, ends when the admin
// token changes, and its record holds no cookie value.
func TestSessionLife(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, err := secrets.OpenEmbedded(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := &fakeAdmin{token: "the-admin-token-0123456789"}
	con := NewConsole(Must(New(clock)), ConsoleDeps{Store: st, Admin: admin, SessionTTL: time.Hour})
	e := echo.New()
	e.GET("/ui/signin", con.SignInForm)
	e.POST("/ui/signin", con.SignIn)
	ui := e.Group("/ui", con.RequireSession)
	ui.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "in") })

	do := func(req *http.Request, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		for _, k := range cookies {
			req.AddCookie(k)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	signIn := func() *http.Cookie {
		t.Helper()
		form := do(httptest.NewRequest("GET", "/ui/signin", nil))
		var csrf *http.Cookie
		for _, k := range form.Result().Cookies() {
			if k.Name == csrfCookie {
				csrf = k
			}
		}
		body := url.Values{"csrf": {csrf.Value}, "token": {admin.token}}.Encode()
		req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := do(req, csrf)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("sign in = %d %s", rec.Code, rec.Body)
		}
		for _, k := range rec.Result().Cookies() {
			if k.Name == sessionCookie {
				return k
			}
		}
		t.Fatal("no session cookie")
		return nil
	}
	status := func(ck *http.Cookie) int { return do(httptest.NewRequest("GET", "/ui/", nil), ck).Code }

	ck := signIn()
	if ck.MaxAge != 3600 || !ck.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("cookie MaxAge %d, Expires %s; want 3600, %s", ck.MaxAge, ck.Expires, now.Add(time.Hour))
	}
	keys, _ := st.List(t.Context(), sessionPrefix)
	if len(keys) != 1 {
		t.Fatalf("sessions kept: %v", keys)
	}
	rec, _ := st.Get(t.Context(), sessionPrefix+strings.TrimPrefix(keys[0], sessionPrefix))
	if strings.Contains(string(rec.Public), ck.Value) || strings.Contains(keys[0], ck.Value) {
		t.Error("the store holds the cookie's value")
	}

	now = now.Add(time.Hour - time.Second)
	if got := status(ck); got != http.StatusOK {
		t.Errorf("a second before expiry = %d; want 200", got)
	}
	now = now.Add(time.Second)
	if got := status(ck); got != http.StatusSeeOther {
		t.Errorf("at expiry = %d; want 303 to sign in", got)
	}
	if keys, _ := st.List(t.Context(), sessionPrefix); len(keys) != 0 {
		t.Errorf("the expired session is still kept: %v", keys)
	}

	ck = signIn()
	if got := status(ck); got != http.StatusOK {
		t.Fatalf("a new session = %d", got)
	}
	admin.token = "a-new-admin-token-9876543210"
	if got := status(ck); got != http.StatusSeeOther {
		t.Errorf("after the admin token changed = %d; want 303 to sign in", got)
	}

	// A wrong try from another address leaves a record for it; a day
	// later, with no lockout, the next sign-in sweeps it.
	bad := do(httptest.NewRequest("GET", "/ui/signin", nil))
	var csrf *http.Cookie
	for _, k := range bad.Result().Cookies() {
		if k.Name == csrfCookie {
			csrf = k
		}
	}
	req := httptest.NewRequest("POST", "/ui/signin", strings.NewReader(url.Values{"csrf": {csrf.Value}, "token": {"wrong"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "198.51.100.7:40000"
	if rec := do(req, csrf); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a wrong token = %d", rec.Code)
	}
	if keys, _ := st.List(t.Context(), signinPrefix); len(keys) != 1 {
		t.Fatalf("sign-in records: %v; want 1", keys)
	}
	now = now.Add(24*time.Hour - time.Second)
	signIn()
	if keys, _ := st.List(t.Context(), signinPrefix); len(keys) != 1 {
		t.Errorf("a sign-in record inside its window was swept")
	}
	now = now.Add(time.Second)
	signIn()
	if keys, _ := st.List(t.Context(), signinPrefix); len(keys) != 0 {
		t.Errorf("a sign-in record past its window is kept: %v", keys)
	}

	// Sessions left to expire unvisited are swept at the next sign-in.
	stale := signIn()
	now = now.Add(2 * time.Hour)
	signIn()
	if keys, _ := st.List(t.Context(), sessionPrefix); len(keys) != 1 {
		t.Errorf("after a sign-in, sessions kept: %d; want 1 (the stale one %s swept)", len(keys), stale.Value[:4])
	}
}
