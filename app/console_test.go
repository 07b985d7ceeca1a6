package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spotter-dev/spotter/awssim"
)

// consoleSignIn signs c in with the admin token and returns the session's
// anti-forgery value, read off the console's first page.
func consoleSignIn(t *testing.T, s *pageStack, c *http.Client) string {
	t.Helper()
	r := get(t, c, s.base+"/ui/signin")
	if r.status != 200 {
		t.Fatalf("GET /ui/signin = %d %s", r.status, r.body)
	}
	csrf, _ := formValues(t, r.body)
	r = postForm(t, c, s.base+"/ui/signin", url.Values{"csrf": {csrf}, "token": {testAdminToken}})
	if r.status != 303 || r.header.Get("Location") != "/ui/?did=signedin" {
		t.Fatalf("sign in = %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	r = get(t, c, s.base+"/ui/")
	if r.status != 200 {
		t.Fatalf("GET /ui/ after sign-in = %d %s", r.status, r.body)
	}
	csrf, _ = formValues(t, r.body)
	return csrf
}

// tokenStatus is a token's status as the admin API says it.
func tokenStatus(t *testing.T, s *pageStack, id string) string {
	t.Helper()
	code, v, raw := call(t, s.client, "GET", s.base+"/v1/tokens/"+id, testAdminToken, "", nil)
	if code != 200 {
		t.Fatalf("GET token %s = %d %s", id, code, raw)
	}
	return v["status"].(string)
}

// TestConsole drives the operator console as a browser with JavaScript
// off, against a real serve over awssim: nothing under /ui without a
// session, sign-in and its cookie, what the pages show and never show,
// anti-forgery on every form, the sign-in throttle at its limit, sign-out.
func TestConsole(t *testing.T) {
	s := startPageStack(t)
	urlA, idA := s.pageToken(t, "GPU box", "")
	_, idX := s.pageToken(t, `<script>alert(1)</script>`, "")
	_, idR := s.pageToken(t, "to revoke", "")

	t.Run("nothing under /ui without a session", func(t *testing.T) {
		c := s.browserClient(t)
		for _, p := range []string{"/ui", "/ui/", "/ui/tokens/" + idA, "/ui/no-such-page", "/ui/tokens/" + idA + "/revoke"} {
			if r := get(t, c, s.base+p); r.status != 303 || r.header.Get("Location") != "/ui/signin" {
				t.Errorf("GET %s = %d → %q; want 303 to /ui/signin", p, r.status, r.header.Get("Location"))
			}
		}
		for _, p := range []string{"/ui/tokens/" + idR + "/revoke", "/ui/tokens/" + idR + "/rotate", "/ui/signout", "/ui/", "/ui/anything"} {
			r := postForm(t, c, s.base+p, url.Values{"csrf": {"x"}, "accessKeyId": {"AKIAXXXXXXXXXXXXXXXX"}})
			if r.status != 401 || !strings.Contains(r.body, "sign in to the console") {
				t.Errorf("POST %s = %d %s; want 401", p, r.status, r.body)
			}
		}
		// A made-up session cookie is no session.
		c.Jar.SetCookies(mustURL(t, s.base+"/ui/"), []*http.Cookie{{Name: "spotter_session", Value: strings.Repeat("A", 43), Path: "/ui"}})
		if r := get(t, c, s.base+"/ui/"); r.status != 303 {
			t.Errorf("GET /ui/ with a made-up session = %d; want 303", r.status)
		}
		if st := tokenStatus(t, s, idR); st != "active" {
			t.Errorf("token is %s after requests without a session", st)
		}
	})

	t.Run("the session cookie", func(t *testing.T) {
		c := s.browserClient(t)
		r := get(t, c, s.base+"/ui/signin")
		csrf, _ := formValues(t, r.body)
		r = postForm(t, c, s.base+"/ui/signin", url.Values{"csrf": {csrf}, "token": {testAdminToken}})
		var ck *http.Cookie
		for _, k := range (&http.Response{Header: r.header}).Cookies() {
			if k.Name == "spotter_session" {
				ck = k
			}
		}
		if ck == nil {
			t.Fatalf("sign-in set no session cookie: %v", r.header)
		}
		if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui" || ck.MaxAge != 8*3600 ||
			ck.Expires.Before(time.Now().Add(7*time.Hour)) || len(ck.Value) != 43 {
			t.Errorf("session cookie %+v; want HttpOnly, Secure, SameSite=Strict, Path=/ui, 8 h, 43 random characters", ck)
		}
		if strings.Contains(r.header.Get("Set-Cookie"), testAdminToken) {
			t.Error("the cookie carries the admin token")
		}
	})

	c := s.browserClient(t)
	csrf := consoleSignIn(t, s, c)

	t.Run("tokens, escaped, and no secret", func(t *testing.T) {
		r := get(t, c, s.base+"/ui/")
		for k, v := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q; want %q", k, got, v)
			}
		}
		for _, want := range []string{"GPU box", `&lt;script&gt;alert(1)&lt;/script&gt;`, idA, idX, "AKIA…", "No pools yet", `id="health"`, `id="reaper"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("the overview has no %q", want)
			}
		}
		capTok := strings.TrimPrefix(urlA, s.base+"/hooks/")
		for _, secret := range []string{"<script>alert", testAdminToken, awssim.DefaultSecretAccessKey, awssim.DefaultAccessKeyID, capTok} {
			if strings.Contains(r.body, secret) {
				t.Errorf("the overview shows %q", secret)
			}
		}
		if n := strings.Count(r.body, "<script"); n != 0 {
			t.Errorf("the overview has %d script elements; it needs none", n)
		}
		tp := get(t, c, s.base+"/ui/tokens/"+idX)
		if tp.status != 200 || !strings.Contains(tp.body, `<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>`) || strings.Contains(tp.body, "<script") {
			t.Errorf("token page of a <script> name = %d:\n%s", tp.status, tp.body)
		}
		for _, secret := range []string{testAdminToken, awssim.DefaultSecretAccessKey, awssim.DefaultAccessKeyID, capTok} {
			if strings.Contains(tp.body, secret) {
				t.Errorf("the token page shows %q", secret)
			}
		}
		if r := get(t, c, s.base+"/ui/tokens/nope"); r.status != 404 {
			t.Errorf("an unknown token id = %d; want 404", r.status)
		}
		if r := get(t, c, s.base+"/ui/tokens/"+strings.Repeat("z", 500)); r.status != 404 || strings.Contains(r.body, strings.Repeat("z", 100)) {
			t.Errorf("a long bad id = %d, echoed whole: %v", r.status, strings.Contains(r.body, strings.Repeat("z", 100)))
		}
	})

	t.Run("pools", func(t *testing.T) {
		if r := get(t, c, s.base+"/ui/"); !strings.Contains(r.body, "No pools yet") {
			t.Errorf("the overview without pools does not say so")
		}
		s.consolePool(t, "linux-ci", 3)
		r := get(t, c, s.base+"/ui/")
		for _, want := range []string{`data-pool="linux-ci"`, "3 pending", "desired 3", `<svg xmlns="http://www.w3.org/2000/svg" class="chart"`, "reported just now"} {
			if !strings.Contains(r.body, want) {
				t.Errorf("the pools section has no %q", want)
			}
		}
	})

	t.Run("a token's instances and recent events", func(t *testing.T) {
		code, v, raw := s.task(t, urlA, `{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, nil)
		if code != 200 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		id := ids(v)[0]
		var body string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			// Events are written to the store in the background.
			if body = get(t, c, s.base+"/ui/tokens/"+idA).body; strings.Contains(body, "task launch") {
				break
			}
		}
		if !regexp.MustCompile(`data-id="` + id + `"[^\n]*state-pending`).MatchString(body) {
			t.Errorf("the token page does not list %s, pending:\n%s", id, body)
		}
		if !strings.Contains(body, "task launch") || !strings.Contains(body, id) {
			t.Errorf("the token page has no launch event:\n%s", body)
		}
	})

	t.Run("tokens page by 25, at the limit and past it", func(t *testing.T) {
		rows := regexp.MustCompile(`<tr data-token="`)
		count := func() int {
			code, v, raw := call(t, s.client, "GET", s.base+"/v1/tokens?limit=1000", testAdminToken, "", nil)
			if code != 200 {
				t.Fatalf("list tokens = %d %s", code, raw)
			}
			return len(v["tokens"].([]any))
		}
		for n := count(); n < 25; n++ {
			s.pageToken(t, fmt.Sprintf("filler %02d", n), "")
		}
		r := get(t, c, s.base+"/ui/")
		if n := len(rows.FindAllString(r.body, -1)); n != 25 || strings.Contains(r.body, "Next tokens") {
			t.Errorf("25 tokens: %d rows, a next link %v; want 25 and none", n, strings.Contains(r.body, "Next tokens"))
		}
		s.pageToken(t, "the 26th", "")
		r = get(t, c, s.base+"/ui/")
		next := regexp.MustCompile(`href="(/ui/\?cursor=[^"]+)">Next tokens`).FindStringSubmatch(r.body)
		if n := len(rows.FindAllString(r.body, -1)); n != 25 || next == nil {
			t.Fatalf("26 tokens: %d rows, next link %v; want 25 and one", n, next)
		}
		r = get(t, c, s.base+strings.ReplaceAll(next[1], "&amp;", "&"))
		if n := len(rows.FindAllString(r.body, -1)); r.status != 200 || n != 1 || strings.Contains(r.body, "Next tokens") {
			t.Errorf("the second page = %d with %d rows; want 200 with 1 and no next link", r.status, n)
		}
	})

	t.Run("a revoke without its anti-forgery token is refused", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			form url.Values
		}{
			{"none", url.Values{}},
			{"empty", url.Values{"csrf": {""}}},
			{"another session's", url.Values{"csrf": {strings.Repeat("x", 43)}}},
			{"the sign-in form's cookie value", url.Values{"csrf": {cookieValue(t, c, s.base+"/ui/", "spotter_csrf")}}},
		} {
			r := postForm(t, c, s.base+"/ui/tokens/"+idR+"/revoke", tt.form)
			if r.status != 403 || !strings.Contains(r.body, "anti-forgery") {
				t.Errorf("%s: revoke = %d %s; want 403", tt.name, r.status, r.body)
			}
		}
		if st := tokenStatus(t, s, idR); st != "active" {
			t.Fatalf("token is %s after forged revokes", st)
		}
		r := postForm(t, c, s.base+"/ui/tokens/"+idR+"/revoke", url.Values{"csrf": {csrf}})
		if r.status != 303 || r.header.Get("Location") != "/ui/tokens/"+idR+"?did=revoked" {
			t.Fatalf("revoke = %d %s", r.status, r.header.Get("Location"))
		}
		if st := tokenStatus(t, s, idR); st != "revoked" {
			t.Errorf("token is %s after the console revoked it", st)
		}
	})

	t.Run("rotate credentials", func(t *testing.T) {
		newKey := "AKIAROTATEDKEY000042"
		r := postForm(t, c, s.base+"/ui/tokens/"+idX+"/rotate", url.Values{"csrf": {csrf},
			"accessKeyId": {newKey}, "secretAccessKey": {"rotated-secret-canary-0123456789abcdefghij"}})
		if r.status != 303 {
			t.Fatalf("rotate = %d %s", r.status, r.body)
		}
		page := get(t, c, s.base+"/ui/tokens/"+idX+"?did=rotated").body
		if !strings.Contains(page, "AKIA…0042") || strings.Contains(page, newKey) || strings.Contains(page, "rotated-secret-canary") {
			t.Errorf("after rotate the page shows the key as masked? %v; the full key? %v; the secret? %v",
				strings.Contains(page, "AKIA…0042"), strings.Contains(page, newKey), strings.Contains(page, "rotated-secret-canary"))
		}
		if r := postForm(t, c, s.base+"/ui/tokens/"+idX+"/rotate", url.Values{"csrf": {csrf}, "accessKeyId": {"nope"}}); r.status != 400 {
			t.Errorf("rotate to bad keys = %d %s; want 400", r.status, r.body)
		}
		for _, l := range strings.Split(s.logs.String(), "\n") {
			if strings.Contains(l, "rotated-secret-canary") || strings.Contains(l, testAdminToken) {
				t.Errorf("a log line holds a secret: %s", l)
			}
		}
	})

	t.Run("sign-out ends the session everywhere", func(t *testing.T) {
		old := cookieValue(t, c, s.base+"/ui/", "spotter_session")
		if r := postForm(t, c, s.base+"/ui/signout", url.Values{}); r.status != 403 {
			t.Errorf("sign-out without csrf = %d; want 403", r.status)
		}
		r := postForm(t, c, s.base+"/ui/signout", url.Values{"csrf": {csrf}})
		if r.status != 303 || r.header.Get("Location") != "/ui/signin" {
			t.Fatalf("sign out = %d %s", r.status, r.header.Get("Location"))
		}
		if r := get(t, c, s.base+"/ui/"); r.status != 303 {
			t.Errorf("GET /ui/ after sign-out = %d; want 303", r.status)
		}
		// The old cookie, kept by someone, is dead on the server too.
		thief := s.browserClient(t)
		thief.Jar.SetCookies(mustURL(t, s.base+"/ui/"), []*http.Cookie{{Name: "spotter_session", Value: old, Path: "/ui"}})
		if r := get(t, thief, s.base+"/ui/"); r.status != 303 {
			t.Errorf("the signed-out cookie replayed = %d; want 303", r.status)
		}
	})

	// Last: it locks sign-in from this address.
	t.Run("wrong admin tokens are throttled, at the limit", func(t *testing.T) {
		c := s.browserClient(t)
		signin := func(tok string) pageReply {
			c := s.browserClient(t) // signed out: a signed-in browser is sent on from the form
			r := get(t, c, s.base+"/ui/signin")
			csrf, _ := formValues(t, r.body)
			return postForm(t, c, s.base+"/ui/signin", url.Values{"csrf": {csrf}, "token": {tok}})
		}
		if r := postForm(t, c, s.base+"/ui/signin", url.Values{"token": {testAdminToken}}); r.status != 403 {
			t.Errorf("sign-in without its csrf = %d; want 403", r.status)
		}
		for i := 1; i <= 4; i++ {
			r := signin("wrong-admin-token-guess-" + string(rune('0'+i)))
			if r.status != 401 || !strings.Contains(r.body, "more wrong tries lock sign-in") {
				t.Fatalf("wrong try %d = %d %s", i, r.status, r.body)
			}
		}
		// Four wrong in a row, one short of the limit: the right one still works, and forgives them.
		if r := signin(testAdminToken); r.status != 303 {
			t.Fatalf("the right token after 4 wrong = %d %s", r.status, r.body)
		}
		for i := 1; i <= 5; i++ {
			r := signin("wrong-admin-token-again")
			want := 401
			if i == 5 {
				want = 429
			}
			if r.status != want {
				t.Fatalf("wrong try %d after a success = %d; want %d: %s", i, r.status, want, r.body)
			}
			if i == 5 && r.header.Get("Retry-After") == "" {
				t.Error("the lockout names no Retry-After")
			}
		}
		r := signin(testAdminToken)
		if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "too many wrong admin tokens") {
			t.Errorf("the right token while locked = %d %s; want 429 with Retry-After", r.status, r.body)
		}
		if strings.Contains(s.logs.String(), "wrong-admin-token") {
			t.Error("a typed admin token reached the log")
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func cookieValue(t *testing.T, c *http.Client, u, name string) string {
	t.Helper()
	for _, k := range c.Jar.Cookies(mustURL(t, u)) {
		if k.Name == name {
			return k.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, u)
	return ""
}

// consolePool creates a pool on a token of its own and reports pending
// jobs for it.
func (s *pageStack) consolePool(t *testing.T, name string, pending int) {
	t.Helper()
	tok := s.createToken(t, `{"name":"pool token","credentials":`+keysJSON()+`,"policy":{"regions":["us-east-1"],"instanceTypes":["t3.*"],"amis":["ami-0123456789abcdef0"],"maxCount":5,"maxRunning":20,"maxTTL":"12h"}}`)
	body := `{"name":"` + name + `","tokenId":"` + tok["id"].(string) + `","region":"us-east-1","ami":"ami-0123456789abcdef0",
		"launchConfigs":[{"instanceType":"t3.micro","capacity":1}],"minCapacity":0,"maxCapacity":10,"idleTimeout":"10m","maxLifetime":"12h"}`
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools", testAdminToken, "application/json", []byte(body)); code != 201 {
		t.Fatalf("create pool = %d %s", code, raw)
	}
	demand := fmt.Sprintf(`{"pending":%d,"running":0,"idle":0}`, pending)
	if code, _, raw := call(t, s.client, "POST", s.base+"/v1/pools/"+name+"/demand", testAdminToken, "application/json", []byte(demand)); code != 200 {
		t.Fatalf("pool demand = %d %s", code, raw)
	}
}
