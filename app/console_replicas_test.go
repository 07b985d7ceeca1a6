package app_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleAcrossReplicas: a console session lives in the store, so a
// sign-in on one replica works on another, a form's anti-forgery value
// from one is good on the other, and a sign-out on either ends it on both.
func TestConsoleAcrossReplicas(t *testing.T) {
	s := startReplicas(t, 2, nil)
	a, b := s.rs[0], s.rs[1]
	s.token(t, `{`+replicaPolicy+`}`)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// One browser, two replicas behind one name: the cookie for one origin
	// is sent to the other by hand, as a load balancer's clients would.
	browser := func(base string) *http.Client {
		c := *a.Client
		c.Jar = jar
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		_ = base
		return &c
	}
	copyCookies := func(from, to string) {
		f, _ := url.Parse(from + "/ui/")
		tt, _ := url.Parse(to + "/ui/")
		jar.SetCookies(tt, jar.Cookies(f))
	}
	ca := browser(a.URL)
	r := get(t, ca, a.URL+"/ui/signin")
	csrf, _ := formValues(t, r.body)
	if r = postForm(t, ca, a.URL+"/ui/signin", url.Values{"csrf": {csrf}, "token": {testAdminToken}}); r.status != 303 {
		t.Fatalf("sign in on replica 0 = %d %s", r.status, r.body)
	}
	copyCookies(a.URL, b.URL)
	cb := browser(b.URL)
	r = get(t, cb, b.URL+"/ui/")
	if r.status != 200 || !strings.Contains(r.body, "replicas") {
		t.Fatalf("replica 1 with replica 0's session = %d", r.status)
	}
	csrf = regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(r.body)[1]
	// Sign out on replica 1 with the value replica 1 rendered ...
	if r = postForm(t, cb, b.URL+"/ui/signout", url.Values{"csrf": {csrf}}); r.status != 303 {
		t.Fatalf("sign out on replica 1 = %d %s", r.status, r.body)
	}
	// ... and replica 0, the cookie still in hand, refuses it too.
	stale := *a.Client
	staleJar, _ := cookiejar.New(nil)
	u, _ := url.Parse(a.URL + "/ui/")
	f, _ := url.Parse(a.URL + "/ui/")
	staleJar.SetCookies(u, jar.Cookies(f))
	stale.Jar = staleJar
	stale.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r = get(t, &stale, a.URL+"/ui/"); r.status != 303 {
		t.Errorf("replica 0 after sign-out on replica 1 = %d; want 303 to sign in", r.status)
	}
}
