package app_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/spotter-dev/spotter/internal/e2e"
)

// TestConsoleAcrossReplicas: a console session lives in the store, so a
// sign-in on one replica works on another, the anti-forgery value one
// renders is good on the other, and a sign-out on either ends it on both,
// even for a copy of the cookie.
func TestConsoleAcrossReplicas(t *testing.T) {
	s := startReplicas(t, 2, nil)
	a, b := s.rs[0], s.rs[1]
	s.token(t, `{`+replicaPolicy+`}`)
	// A browser that keeps no cookies: each request carries the session
	// the test gives it, so a copy of the cookie can be replayed.
	browser := func(session string, rep *e2e.Replica) *http.Client {
		jar, _ := cookiejar.New(nil)
		for _, r := range s.rs {
			u, _ := url.Parse(r.URL + "/ui/")
			if session != "" {
				jar.SetCookies(u, []*http.Cookie{{Name: "spotter_session", Value: session, Path: "/ui"}})
			}
		}
		c := *rep.Client // trusts that replica's own self-signed certificate
		c.Jar = jar
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &c
	}
	c := browser("", a)
	r := get(t, c, a.URL+"/ui/signin")
	csrf, _ := formValues(t, r.body)
	if r = postForm(t, c, a.URL+"/ui/signin", url.Values{"csrf": {csrf}, "token": {testAdminToken}}); r.status != 303 {
		t.Fatalf("sign in on replica 0 = %d %s", r.status, r.body)
	}
	var session string
	for _, k := range (&http.Response{Header: r.header}).Cookies() {
		if k.Name == "spotter_session" {
			session = k.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}

	r = get(t, browser(session, b), b.URL+"/ui/")
	if r.status != 200 || !strings.Contains(r.body, "replicas") {
		t.Fatalf("replica 1 with replica 0's session = %d", r.status)
	}
	csrf, _ = formValues(t, r.body)
	if r = postForm(t, browser(session, b), b.URL+"/ui/signout", url.Values{"csrf": {csrf}}); r.status != 303 {
		t.Fatalf("sign out on replica 1 with its own page's csrf = %d %s", r.status, r.body)
	}
	for i, rep := range s.rs {
		if r = get(t, browser(session, rep), rep.URL+"/ui/"); r.status != 303 {
			t.Errorf("replica %d, the signed-out cookie replayed = %d; want 303 to sign in", i, r.status)
		}
	}
}
