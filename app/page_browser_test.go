package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spotter-dev/spotter/internal/browsertest"
	"github.com/spotter-dev/spotter/spot"
)

// TestCapabilityPageInBrowser runs the capability page in a real headless
// Chromium against a real serve over awssim: launch (dry run, then real)
// from its form, watch the instance reach running without a reload,
// terminate; escaping, anti-forgery and the token boundary as a browser
// meets them; axe-core on each state; screenshots at phone and desktop widths.
func TestCapabilityPageInBrowser(t *testing.T) {
	ctx := browsertest.Start(t)
	s := startPageStack(t)
	urlA, _ := s.pageToken(t, "GPU box", "")
	urlB, _ := s.pageToken(t, "someone else", "")
	urlXSS, _ := s.pageToken(t, `<script>alert(1)</script>`, "")
	urlTOTP, _ := s.pageToken(t, "with a code", `"mfa":{"totp":true}`)
	urlE := s.createToken(t, `{"name":"extendable","credentials":`+keysJSON()+`,"policy":`+extendPolicy+`}`)["url"].(string)
	// Kept after the test, for a person to look at (and for docs/).
	if err := browsertest.WatchCSP(ctx); err != nil {
		t.Fatal(err)
	}
	// noViolations fails on anything the pages' CSP blocked since the last call.
	noViolations := func(t *testing.T) {
		t.Helper()
		if v, err := browsertest.CSPViolations(ctx); err != nil || len(v) != 0 {
			t.Errorf("CSP violations %q (%v); want none", v, err)
		}
	}
	shots, err := os.MkdirTemp("", "spotter-pages-")
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
	text := func(t *testing.T, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// waitFor evaluates a script expression until it is true. Errors while
	// the form's navigation replaces the page are expected, and retried.
	waitFor := func(t *testing.T, what, expr string) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var ok bool
			if ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
				return
			}
		}
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("waiting for %s (last error %v); page text:\n%s", what, err, body)
	}
	axe := axeCheck(t, ctx)
	// A phone: 360 CSS pixels wide, touch, overlay scroll bars.
	phone := chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile)
	shoot := func(t *testing.T, name string) {
		t.Helper()
		for _, size := range []struct {
			name string
			view chromedp.Action[chromedp.Void]
		}{{"phone", phone}, {"desktop", chromedp.EmulateViewport(1280, 800)}} {
			run(t, size.view)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(shots, fmt.Sprintf("%s-%s.png", name, size.name))
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run(t, phone)
	}
	noticeHas := func(s string) string {
		return fmt.Sprintf(`(document.querySelector(".notice")||{textContent:""}).textContent.includes(%q)`, s)
	}

	t.Run("launch, watch it boot, terminate", func(t *testing.T) {
		run(t, phone, chromedp.Navigate(urlA), chromedp.WaitVisible(chromedp.ID("launch")))
		if got := text(t, "h1"); got != "GPU box" {
			t.Fatalf("h1 = %q", got)
		}
		axe(t, "empty page")
		shoot(t, "capability-empty")

		run(t, chromedp.SetValue(chromedp.ID("f-type"), "t3.micro"), chromedp.Click(chromedp.ID("f-dry")), chromedp.Click(chromedp.ID("launch")))
		waitFor(t, "the dry run's notice", noticeHas("Dry run passed: 1 instance(s) would launch"))
		if n := len(s.liveIDs()); n != 0 {
			t.Fatalf("the dry run started %d instances", n)
		}

		// The keyboard alone: focus the Launch button and press Enter.
		run(t, chromedp.Focus(chromedp.ID("launch")), chromedp.KeyEvent("\r"))
		waitFor(t, "the launch's notice", noticeHas("Launched 1 instance(s)"))
		live := s.liveIDs()
		if len(live) != 1 {
			t.Fatalf("emulator runs %v", live)
		}
		id := live[0]
		waitFor(t, "the instance, pending", fmt.Sprintf(`!!document.querySelector('[data-id=%q] .state-pending')`, id))
		axe(t, "a pending instance")

		// A mark only this page load has: if the page reloaded, it is gone.
		run(t, chromedp.Evaluate[chromedp.Void](`window.stillTheSamePage = true; undefined`, chromedp.EvalIgnoreExceptions))
		s.clock.Advance(pendingDelay + time.Minute)
		waitFor(t, "the instance, running, without a reload", fmt.Sprintf(`!!document.querySelector('[data-id=%q] .state-running')`, id))
		if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stillTheSamePage === true`)); err != nil || !same {
			t.Fatalf("the page reloaded to show running (mark %v, %v)", same, err)
		}
		if st := text(t, "#inst-status"); st != "Instances now: "+id+" running" {
			t.Errorf("the status line a screen reader hears reads %q", st)
		}
		if card := text(t, fmt.Sprintf(`[data-id=%q]`, id)); !strings.Contains(card, "IP") {
			t.Errorf("a running instance shows no IP:\n%s", card)
		}
		ttl := text(t, fmt.Sprintf(`[data-id=%q] [data-expires]`, id))
		if !strings.Contains(ttl, "m") {
			t.Errorf("TTL countdown reads %q", ttl)
		}
		axe(t, "a running instance")
		shoot(t, "capability-running")
		noViolations(t)

		run(t, chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-id=%q] button.danger`, id))))
		waitFor(t, "the terminate notice", noticeHas("Terminating 1 instance(s)"))
		if st := s.instanceState(id); st != "shutting-down" && st != "terminated" {
			t.Errorf("%s is %s after the page terminated it", id, st)
		}
	})

	t.Run("a name with a script tag is text", func(t *testing.T) {
		run(t, chromedp.Navigate(urlXSS), chromedp.WaitVisible(chromedp.CSS("h1")))
		if got := text(t, "h1"); got != `<script>alert(1)</script>` {
			t.Errorf("h1 = %q; want the name as text", got)
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
		if err != nil || n != 1 {
			t.Errorf("the page has %d scripts (%v); want only page.js", n, err)
		}
		noViolations(t)
	})

	t.Run("the CSP blocks inline script in a real browser", func(t *testing.T) {
		run(t, chromedp.Navigate(urlA), chromedp.WaitVisible(chromedp.ID("launch")),
			chromedp.Evaluate[chromedp.Void](`(function () { var s = document.createElement("script"); s.textContent = "window.inlineRan = true"; document.body.append(s); })()`, chromedp.EvalIgnoreExceptions))
		waitFor(t, "the violation", `(sessionStorage.getItem("browsertest.cspViolations") || "").includes("script-src-elem blocked inline")`)
		if ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.inlineRan === true`)); err != nil || ran {
			t.Errorf("an inline script ran on the page (%v)", err)
		}
		_, _ = browsertest.CSPViolations(ctx) // the expected one
	})

	t.Run("a form without its anti-forgery token is refused", func(t *testing.T) {
		run(t, chromedp.Navigate(urlA), chromedp.WaitVisible(chromedp.ID("launch")),
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())`, chromedp.EvalIgnoreExceptions),
			chromedp.Click(chromedp.ID("launch")))
		waitFor(t, "the refusal", `document.body.innerText.includes("403") && document.body.innerText.includes("anti-forgery token")`)
		if n := len(s.liveIDs()); n != 0 {
			t.Errorf("a form without its csrf started %d instances", n)
		}
		axe(t, "the error page")
		noViolations(t)
	})

	t.Run("page A cannot terminate B's instance", func(t *testing.T) {
		code, v, raw := s.task(t, urlB, `{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, nil)
		if code != 200 {
			t.Fatalf("launch B = %d %s", code, raw)
		}
		idB := ids(v)[0]
		code, v, raw = s.task(t, urlA, `{"task":"launch","instanceTypes":["t3.micro"],"count":1}`, nil)
		if code != 200 {
			t.Fatalf("launch A = %d %s", code, raw)
		}
		idA := ids(v)[0]
		run(t, chromedp.Navigate(urlA), chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-id=%q]`, idA))))
		if strings.Contains(text(t, "main"), idB) {
			t.Fatalf("A's page shows B's instance")
		}
		// Point A's terminate form at B's instance, as a hostile page user would.
		run(t, chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`[data-id=%q] input[name=id]`, idA)), idB),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-id=%q] button.danger`, idA))))
		waitFor(t, "the refusal", fmt.Sprintf(`document.body.innerText.includes("403") && document.body.innerText.includes(%q)`, idB+" was not terminated"))
		if st := s.instanceState(idB); st != "pending" && st != "running" {
			t.Errorf("B's instance is %s", st)
		}
		noViolations(t)
	})

	t.Run("extend an instance's TTL", func(t *testing.T) {
		code, v, raw := s.task(t, urlE, `{"task":"launch","count":1}`, nil)
		if code != 200 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		id := ids(v)[0]
		sel := fmt.Sprintf(`#x-%s`, id)
		run(t, chromedp.Navigate(urlE), chromedp.WaitVisible(chromedp.CSS(sel)),
			chromedp.SetValue(chromedp.CSS(sel), "2h"),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-id=%q] form.extend button`, id))))
		waitFor(t, "the extend notice", noticeHas("Extended 1 instance(s)"))
		if got, want := s.tagOf(id, spot.TagExpiresAt), s.launchTime(id).Add(2*time.Hour).Format(time.RFC3339); got != want {
			t.Errorf("after the page's extend expires-at = %s; want launch + 2h, %s", got, want)
		}
		// Now at 2h: only the 4h maximum is left to offer.
		opts, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`Array.from(document.querySelectorAll('#x-%s option')).map(o => o.value).join(",")`, id)))
		if err != nil || opts != "4h" {
			t.Errorf("extend choices after extending to 2h: %q (%v); want 4h", opts, err)
		}
		axe(t, "an extendable instance")
		shoot(t, "capability-extend")
		noViolations(t)
	})

	t.Run("an MFA token's page asks for the code", func(t *testing.T) {
		run(t, chromedp.Navigate(urlTOTP), chromedp.WaitVisible(chromedp.ID("launch")))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[name=mfa][autocomplete=one-time-code]').length`))
		if err != nil || n != 2 {
			t.Errorf("MFA fields: %d (%v); want 2 (show instances, launch)", n, err)
		}
		axe(t, "the MFA page")
		shoot(t, "capability-mfa")
		noViolations(t)
	})
}

// axeCheck returns a check that runs the vendored axe-core on the current
// page and fails on any serious or critical violation.
func axeCheck(t *testing.T, ctx context.Context) func(t *testing.T, state string) {
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return func(t *testing.T, state string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
			t.Fatalf("load axe: %v", err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document).then(r => JSON.stringify({
			passes: r.passes.length,
			violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))}))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe.run: %v", err)
		}
		var res struct {
			Passes     int
			Violations []struct {
				ID, Impact, Help string
				Nodes            []string
			}
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		// A run that checked nothing would pass anything.
		if res.Passes < 10 {
			t.Fatalf("axe on %s passed only %d rules: did it see the page?", state, res.Passes)
		}
		t.Logf("axe on %s: %d rules pass, %d violations", state, res.Passes, len(res.Violations))
		vs := res.Violations
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Errorf("axe on %s: %s %s (%s) at %v", state, v.Impact, v.ID, v.Help, v.Nodes)
			} else {
				t.Logf("axe on %s: %s %s (%s)", state, v.Impact, v.ID, v.Help)
			}
		}
	}
}
