package app_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/spotter-dev/spotter/awssim"
	"github.com/spotter-dev/spotter/pages"
)

// TestCapabilityPage drives the capability page as a browser with
// JavaScript off: plain GETs and form POSTs against a real serve over
// awssim. The browser tests (page_browser_test.go) add script, layout and
// accessibility.
func TestCapabilityPage(t *testing.T) {
	s := startPageStack(t)
	urlA, _ := s.pageToken(t, "page A", "")
	urlB, _ := s.pageToken(t, "page B", "")
	urlXSS, _ := s.pageToken(t, `<script>alert(1)</script>`, "")
	urlTOTP, _ := s.pageToken(t, "page totp", `"mfa":{"totp":true}`)
	urlSigned, _ := s.pageToken(t, "page signed", `"requireSignature":true`)

	t.Run("headers", func(t *testing.T) {
		c := s.browserClient(t)
		for _, u := range []string{urlA, urlA + "/page", s.base + "/static/page.js", s.base + "/static/page.css"} {
			r := get(t, c, u)
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s", strings.TrimPrefix(u, s.base), r.status, r.body)
			}
			want := map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("GET %s: %s = %q; want %q", strings.TrimPrefix(u, s.base), k, got, v)
				}
			}
		}
		if r := get(t, c, urlA); !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("page Content-Type %q, Cache-Control %q; want text/html, no-store", r.header.Get("Content-Type"), r.header.Get("Cache-Control"))
		}
		if r := get(t, c, s.base+"/static/page.js"); !strings.Contains(r.header.Get("Content-Type"), "javascript") {
			t.Errorf("page.js Content-Type %q", r.header.Get("Content-Type"))
		}
	})

	t.Run("static files only, no listing", func(t *testing.T) {
		for _, p := range []string{"/static/", "/static/nope.js", "/static/../pages.go"} {
			if r := get(t, s.browserClient(t), s.base+p); r.status != 404 {
				t.Errorf("GET %s = %d; want 404", p, r.status)
			}
		}
	})

	t.Run("a dry-run-only policy's form can only check", func(t *testing.T) {
		v := s.createToken(t, `{"name":"dry only","credentials":`+keysJSON()+`,"policy":`+strings.Replace(pagePolicy, `"tags"`, `"dryRunOnly":true,"tags"`, 1)+`}`)
		u := v["url"].(string)
		c := s.browserClient(t)
		page := get(t, c, u)
		if !strings.Contains(page.body, `<input type="hidden" name="dryrun" value="1">`) || !strings.Contains(page.body, `checked disabled`) {
			t.Fatalf("dry-run-only page lacks the fixed dry run:\n%s", page.body)
		}
		csrf, key := formValues(t, page.body)
		r := postForm(t, c, u+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "count": {"1"}, "dryrun": {"1"}})
		if r.status != 303 || !strings.Contains(r.header.Get("Location"), "did=dryrun") {
			t.Errorf("dry-run-only launch = %d %q %s", r.status, r.header.Get("Location"), r.body)
		}
	})

	t.Run("a GET that is not a browser's still gets 405", func(t *testing.T) {
		code, v := getJSON(t, s.client, urlA)
		if code != 405 || v["error"] != "method_not_allowed" || !strings.Contains(v["details"].(string), "open the URL in a browser") {
			t.Errorf("GET without Accept: text/html = %d %v; want 405 method_not_allowed", code, v)
		}
	})

	t.Run("no secret on the page, no script in a name", func(t *testing.T) {
		c := s.browserClient(t)
		r := get(t, c, urlXSS)
		if r.status != 200 {
			t.Fatalf("GET = %d %s", r.status, r.body)
		}
		if strings.Contains(r.body, "<script>alert") || !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("the token name is not escaped:\n%s", r.body)
		}
		for _, secret := range []string{awssim.DefaultSecretAccessKey, awssim.DefaultAccessKeyID, testAdminToken} {
			if strings.Contains(r.body, secret) {
				t.Errorf("the page shows a secret (%.6s…)", secret)
			}
		}
		if n := strings.Count(r.body, "<script"); n != 1 || !strings.Contains(r.body, `<script src="/static/page.js"></script>`) {
			t.Errorf("the page has %d script elements; want only /static/page.js", n)
		}
	})

	t.Run("JS off: launch, dry run and terminate by POST/redirect/GET", func(t *testing.T) {
		c := s.browserClient(t)
		page := get(t, c, urlA)
		if page.status != 200 || strings.Contains(page.body, `name="mfa"`) {
			t.Fatalf("page = %d; want 200 without an MFA field:\n%s", page.status, page.body)
		}
		csrf, key := formValues(t, page.body)
		pathA := mustPath(t, urlA)

		r := postForm(t, c, urlA+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "type": {"t3.micro"}, "count": {"1"}, "ttl": {"1h"}, "dryrun": {"1"}})
		if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), pathA+"?did=dryrun&n=1&cost=") {
			t.Fatalf("dry run = %d Location %q %s; want 303 back to the page", r.status, r.header.Get("Location"), r.body)
		}
		if n := len(s.liveIDs()); n != 0 {
			t.Fatalf("a dry run started %d instances", n)
		}
		if back := get(t, c, s.base+r.header.Get("Location")); !strings.Contains(back.body, "Dry run passed: 1 instance(s) would launch") {
			t.Errorf("the page after a dry run does not say so:\n%s", back.body)
		}

		r = postForm(t, c, urlA+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "type": {"t3.micro"}, "count": {"1"}, "ttl": {"1h"}})
		if r.status != 303 || r.header.Get("Location") != pathA+"?did=launched&n=1" {
			t.Fatalf("launch = %d Location %q %s", r.status, r.header.Get("Location"), r.body)
		}
		live := s.liveIDs()
		if len(live) != 1 {
			t.Fatalf("emulator runs %v after one launch", live)
		}
		// The same form sent twice (a double tap) is the same launch.
		r = postForm(t, c, urlA+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "type": {"t3.micro"}, "count": {"1"}, "ttl": {"1h"}})
		if r.status != 303 || len(s.liveIDs()) != 1 {
			t.Fatalf("a resubmitted launch form = %d and %d live; want 303 and still 1", r.status, len(s.liveIDs()))
		}
		id := live[0]
		back := get(t, c, s.base+r.header.Get("Location"))
		for _, want := range []string{"Launched 1 instance(s)", id, "t3.micro", "pending", "Stops in", "Cost so far"} {
			if !strings.Contains(back.body, want) {
				t.Errorf("the page after launching lacks %q:\n%s", want, back.body)
			}
		}

		r = postForm(t, c, urlA+"/page", url.Values{"csrf": {csrf}, "task": {"terminate"}, "id": {id}})
		if r.status != 303 || r.header.Get("Location") != pathA+"?did=terminated&n=1" {
			t.Fatalf("terminate = %d Location %q %s", r.status, r.header.Get("Location"), r.body)
		}
		if st := s.instanceState(id); st != "shutting-down" && st != "terminated" {
			t.Errorf("%s is %s after terminate", id, st)
		}
	})

	t.Run("forms without their anti-forgery token are refused", func(t *testing.T) {
		c := s.browserClient(t)
		csrf, key := formValues(t, get(t, c, urlA).body)
		launch := url.Values{"key": {key}, "task": {"launch"}, "count": {"1"}}
		other := s.browserClient(t) // a browser that never saw the page: no cookie
		tests := []struct {
			name   string
			client string
			csrf   string
			want   string
		}{
			{name: "no csrf field", client: "page", csrf: "", want: "has no anti-forgery token"},
			{name: "wrong csrf field", client: "page", csrf: strings.Repeat("A", 43), want: "does not match"},
			{name: "right field, no cookie", client: "other", csrf: csrf, want: "cookie is missing"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				form := url.Values{}
				for k, v := range launch {
					form[k] = v
				}
				if tt.csrf != "" {
					form.Set("csrf", tt.csrf)
				}
				cl := c
				if tt.client == "other" {
					cl = other
				}
				r := postForm(t, cl, urlA+"/page", form)
				if r.status != 403 || !strings.Contains(r.body, tt.want) || !strings.Contains(r.body, "forbidden") {
					t.Errorf("POST = %d; want 403 forbidden saying %q:\n%s", r.status, tt.want, r.body)
				}
				if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || r.header.Get("Content-Security-Policy") != pages.CSP {
					t.Errorf("a browser's refusal is %q with CSP %q; want an HTML page under the CSP", r.header.Get("Content-Type"), r.header.Get("Content-Security-Policy"))
				}
			})
		}
		if n := len(s.liveIDs()); n != 0 {
			t.Errorf("refused forms started %d instances", n)
		}
	})

	t.Run("page A cannot terminate B's instance", func(t *testing.T) {
		code, v, raw := s.task(t, urlB, `{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, nil)
		if code != 200 {
			t.Fatalf("launch B = %d %s", code, raw)
		}
		idB := ids(v)[0]
		c := s.browserClient(t)
		csrf, _ := formValues(t, get(t, c, urlA).body)
		r := postForm(t, c, urlA+"/page", url.Values{"csrf": {csrf}, "task": {"terminate"}, "id": {idB}})
		if r.status != 403 || !strings.Contains(r.body, idB+" was not terminated") {
			t.Errorf("terminate B's instance from A's page = %d; want 403 naming it:\n%s", r.status, r.body)
		}
		if st := s.instanceState(idB); st != "pending" && st != "running" {
			t.Errorf("B's instance is %s after A's page tried to terminate it", st)
		}
		if strings.Contains(get(t, c, urlA).body, idB) {
			t.Errorf("A's page shows B's instance %s", idB)
		}
	})

	t.Run("an MFA token's forms ask for the code", func(t *testing.T) {
		c := s.browserClient(t)
		r := get(t, c, urlTOTP)
		if r.status != 200 || strings.Count(r.body, `name="mfa"`) != 2 || !strings.Contains(r.body, `autocomplete="one-time-code"`) {
			t.Fatalf("TOTP page = %d; want the status and launch forms each with an MFA field:\n%s", r.status, r.body)
		}
		csrf, key := formValues(t, r.body)
		p := postForm(t, c, urlTOTP+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "count": {"1"}})
		if p.status != 401 || !strings.Contains(p.body, "mfa_") {
			t.Errorf("launch without a code = %d; want 401 mfa_…:\n%s", p.status, p.body)
		}

		// With codes: launch, then show the instances (a read that needs a code too).
		v := s.createToken(t, `{"name":"page totp 2","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+pagePolicy+`}`)
		u := v["url"].(string)
		secret := v["totp"].(map[string]any)["secret"].(string)
		code := func(at time.Time) string {
			c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		page := get(t, c, u)
		csrf, key = formValues(t, page.body)
		before := len(s.liveIDs())
		p = postForm(t, c, u+"/page", url.Values{"csrf": {csrf}, "key": {key}, "task": {"launch"}, "count": {"1"}, "mfa": {code(time.Now())}})
		if p.status != 303 || len(s.liveIDs()) != before+1 {
			t.Fatalf("launch with a code = %d %s; want 303 and one more instance", p.status, p.body)
		}
		if strings.Contains(get(t, c, u).body, "data-id=") {
			t.Errorf("an MFA token's page lists instances without a code")
		}
		p = postForm(t, c, u+"/page", url.Values{"csrf": {csrf}, "task": {"status"}, "mfa": {code(time.Now().Add(30 * time.Second))}})
		if p.status != 200 || strings.Count(p.body, "data-id=") != 1 || strings.Contains(p.body, "data-poll") {
			t.Errorf("status with a code = %d; want the page with its one instance, not polling:\n%s", p.status, p.body)
		}
	})

	t.Run("wrong codes on the page lock the token's MFA as the API's do", func(t *testing.T) {
		v := s.createToken(t, `{"name":"page lock","credentials":`+keysJSON()+`,"mfa":{"totp":true},"policy":`+pagePolicy+`}`)
		u := v["url"].(string)
		secret := v["totp"].(map[string]any)["secret"].(string)
		right, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		c := s.browserClient(t)
		csrf, _ := formValues(t, get(t, c, u).body)
		send := func(code string) pageReply {
			return postForm(t, c, u+"/page", url.Values{"csrf": {csrf}, "task": {"status"}, "mfa": {code}})
		}
		for i := 1; i <= 4; i++ {
			if r := send(wrong); r.status != 401 || !strings.Contains(r.body, "mfa_invalid") {
				t.Fatalf("wrong code %d = %d; want 401 mfa_invalid:\n%s", i, r.status, r.body)
			}
		}
		if r := send(wrong); r.status != 429 || !strings.Contains(r.body, "mfa_locked") || r.header.Get("Retry-After") == "" {
			t.Fatalf("the 5th wrong code = %d (Retry-After %q); want 429 mfa_locked:\n%s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if r := send(right); r.status != 429 || strings.Contains(r.body, "data-id=") {
			t.Errorf("a right code while locked = %d; want 429 and nothing shown:\n%s", r.status, r.body)
		}
	})

	t.Run("a signed-body token's page is read-only", func(t *testing.T) {
		c := s.browserClient(t)
		r := get(t, c, urlSigned)
		if r.status != 200 || !strings.Contains(r.body, "Read-only") || strings.Contains(r.body, "<form") {
			t.Fatalf("signed token's page = %d; want read-only, no forms:\n%s", r.status, r.body)
		}
		// A hand-made form post, with a right anti-forgery pair, meets the
		// guard, which wants the body signature a browser cannot make.
		u, _ := url.Parse(urlSigned)
		var val string
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "spotter_csrf" {
				val = ck.Value
			}
		}
		p := postForm(t, c, urlSigned+"/page", url.Values{"csrf": {val}, "task": {"terminate"}, "all": {"1"}})
		if p.status != 401 || !strings.Contains(p.body, "signature_invalid") {
			t.Errorf("a form post to a signed token = %d; want 401 signature_invalid:\n%s", p.status, p.body)
		}
	})

	t.Run("a revoked token's page says so", func(t *testing.T) {
		u, id := s.pageToken(t, "revoked", "")
		if code, _, raw := call(t, s.client, "DELETE", s.base+"/v1/tokens/"+id, testAdminToken, "", nil); code != 200 {
			t.Fatalf("revoke = %d %s", code, raw)
		}
		r := get(t, s.browserClient(t), u)
		if r.status != 401 || !strings.Contains(r.body, "token_revoked") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("revoked token's page = %d %q:\n%s", r.status, r.header.Get("Content-Type"), r.body)
		}
	})
}

func mustPath(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.EscapedPath()
}
