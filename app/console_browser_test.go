package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spotter-dev/spotter/internal/browsertest"
)

// TestConsoleInBrowser runs the operator console in a real headless
// Chromium against a real serve over awssim: sign in, the tokens (a name
// with a script tag as text), a token's instances and events, a revoke
// whose anti-forgery field was removed is refused, sign-out ends the
// session, and without it every console URL lands on sign-in; axe-core on
// every page; screenshots at phone and desktop widths.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browsertest.Start(t)
	// A quick reaper, so the tokens show what they run.
	s := startPageStack(t, "--reaper-interval", "300ms")
	urlA, idA := s.pageToken(t, "GPU box", "")
	_, idX := s.pageToken(t, `<script>alert(1)</script>`, "")
	_, idT := s.pageToken(t, "with a code", `"mfa":{"totp":true}`)
	if err := browsertest.WatchCSP(ctx); err != nil {
		t.Fatal(err)
	}
	shots, err := os.MkdirTemp("", "spotter-console-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	run := func(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(t *testing.T, what, expr string) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var ok bool
			if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
				return
			}
		}
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.pathname + "\n" + document.body.innerText`))
		t.Fatalf("waiting for %s (last error %v); page:\n%s", what, err, body)
	}
	at := func(path string) string {
		return fmt.Sprintf(`document.location.pathname === %q && document.readyState === "complete"`, path)
	}
	noViolations := func(t *testing.T) {
		t.Helper()
		if v, err := browsertest.CSPViolations(ctx); err != nil || len(v) != 0 {
			t.Errorf("CSP violations %q (%v); want none", v, err)
		}
	}
	axe := axeCheck(t, ctx)
	phone := chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile)
	desktop := chromedp.EmulateViewport(1280, 800)
	shoot := func(t *testing.T, name string) {
		t.Helper()
		for _, size := range []struct {
			name string
			view chromedp.Action[chromedp.Void]
		}{{"phone", phone}, {"desktop", desktop}} {
			run(t, size.view)
			if size.name == "phone" {
				// Nothing scrolls sideways on a phone: tables turn into cards.
				wide, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth +
					[...document.querySelectorAll(".scroll")].filter(e => e.scrollWidth > e.clientWidth).length`))
				if err != nil || wide > 0 {
					t.Errorf("%s on a phone: %d px or tables too wide (%v); want none", name, wide, err)
				}
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(shots, name+"-"+size.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run(t, desktop)
	}
	// Something to show: a running instance and a few events.
	for _, body := range []string{`{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, `{"task":"status"}`} {
		if code, _, raw := s.task(t, urlA, body, nil); code != 200 {
			t.Fatalf("task = %d %s", code, raw)
		}
	}
	s.clock.Advance(pendingDelay + time.Minute)
	s.consolePool(t, "linux-ci", 3)

	t.Run("without a session, every console URL lands on sign-in", func(t *testing.T) {
		for _, p := range []string{"/ui", "/ui/", "/ui/tokens/" + idA, "/ui/no-such-page"} {
			run(t, chromedp.Navigate(s.base+p))
			waitFor(t, p+" → sign-in", at("/ui/signin"))
		}
		axe(t, "the sign-in page")
		shoot(t, "console-signin")
		noViolations(t)
	})

	t.Run("a wrong admin token is refused", func(t *testing.T) {
		run(t, chromedp.SetValue(chromedp.ID("f-token"), "not-the-admin-token-at-all"), chromedp.Click(chromedp.ID("signin")))
		waitFor(t, "the refusal", `document.body.innerText.includes("That is not the admin token")`)
		axe(t, "a refused sign-in")
	})

	t.Run("sign in and see the tokens", func(t *testing.T) {
		run(t, chromedp.SetValue(chromedp.ID("f-token"), testAdminToken), chromedp.Click(chromedp.ID("signin")))
		waitFor(t, "the overview", at("/ui/")+` && !!document.querySelector("table.grid")`)
		for _, id := range []string{idA, idX, idT} {
			waitFor(t, "row "+id, fmt.Sprintf(`!!document.querySelector('tr[data-token=%q]')`, id))
		}
		// The reaper's usage of token A: 1 running, at a price.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			running, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(`tr[data-token=%q] td.running`, idA))))
			if running == "1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("token A's row reads %q running; want 1, from the reaper's pass", running)
			}
			run(t, chromedp.Reload())
			waitFor(t, "the overview", at("/ui/"))
		}
		// The pool's chart, drawn from the reaper's samples.
		waitFor(t, "the pool's chart", `!!document.querySelector('[data-pool="linux-ci"] svg.chart polyline.pending')`)
		name, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(fmt.Sprintf(`tr[data-token=%q] th a`, idX))))
		if err != nil || name != `<script>alert(1)</script>` {
			t.Errorf("the <script> token's name reads %q (%v); want it as text", name, err)
		}
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`)); err != nil || n != 0 {
			t.Errorf("the console has %d scripts (%v); want none", n, err)
		}
		axe(t, "the overview")
		shoot(t, "console-tokens")
		noViolations(t)
	})

	t.Run("a token's instances and events", func(t *testing.T) {
		run(t, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-token=%q] th a`, idA))))
		waitFor(t, "the token page", at("/ui/tokens/"+idA))
		// The event history is written in the background: reload until it shows.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.innerText.includes("task launch") && !!document.querySelector(".state-running")`))
			if ok || time.Now().After(deadline) {
				break
			}
			run(t, chromedp.Reload())
		}
		waitFor(t, "a running instance and its launch event", `document.body.innerText.includes("task launch") && !!document.querySelector(".state-running")`)
		axe(t, "a token page")
		shoot(t, "console-token")
		noViolations(t)
	})

	t.Run("a revoke without its anti-forgery token is refused", func(t *testing.T) {
		run(t, chromedp.Navigate(s.base+"/ui/tokens/"+idT))
		waitFor(t, "the token page", at("/ui/tokens/"+idT)+` && !!document.getElementById("revoke")`)
		run(t, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())`, chromedp.EvalIgnoreExceptions),
			chromedp.Click(chromedp.ID("revoke")))
		waitFor(t, "the refusal", `document.body.innerText.includes("403") && document.body.innerText.includes("anti-forgery token")`)
		if st := tokenStatus(t, s, idT); st != "active" {
			t.Errorf("the token is %s after a revoke without csrf", st)
		}
		axe(t, "the console's error page")
		noViolations(t)

		// The same form with its field revokes.
		run(t, chromedp.Navigate(s.base+"/ui/tokens/"+idT))
		waitFor(t, "the token page", at("/ui/tokens/"+idT)+` && !!document.getElementById("revoke")`)
		run(t, chromedp.Click(chromedp.ID("revoke")))
		waitFor(t, "the notice", `(document.querySelector(".notice")||{textContent:""}).textContent.includes("Token revoked")`)
		if st := tokenStatus(t, s, idT); st != "revoked" {
			t.Errorf("the token is %s after the console's revoke", st)
		}
	})

	t.Run("sign-out ends the session", func(t *testing.T) {
		run(t, chromedp.Navigate(s.base+"/ui/"))
		waitFor(t, "the overview", at("/ui/"))
		run(t, chromedp.Click(chromedp.CSS(`form[action="/ui/signout"] button`)))
		waitFor(t, "the sign-in page", at("/ui/signin"))
		for _, p := range []string{"/ui/", "/ui/tokens/" + idA} {
			run(t, chromedp.Navigate(s.base+p))
			waitFor(t, p+" → sign-in after sign-out", at("/ui/signin"))
		}
		if strings.Contains(s.logs.String(), testAdminToken) {
			t.Error("the admin token reached the log")
		}
	})
}

// TestConsoleSandboxInBrowser: the sandbox serves plain HTTP on loopback,
// and the console's cookies are Secure all the same; a real browser keeps
// Secure cookies for a loopback origin, so the URL the sandbox prints
// signs in there.
func TestConsoleSandboxInBrowser(t *testing.T) {
	ctx := browsertest.Start(t)
	base, _, _ := startServe(t, map[string]string{"SPOTTER_ADMIN_TOKEN": testAdminToken}, "--sandbox", "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("sandbox at %s; want plain HTTP on loopback", base)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("f-token")),
		chromedp.SetValue(chromedp.ID("f-token"), testAdminToken), chromedp.Click(chromedp.ID("signin"))); err != nil {
		t.Fatal(err)
	}
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.pathname + " " + document.body.innerText`))
		if strings.HasPrefix(last, "/ui/ ") && strings.Contains(last, "sandbox demo") {
			return
		}
	}
	t.Fatalf("after sign-in over plain HTTP the browser shows:\n%s", last)
}
