// Package browsertest starts a real headless Chromium for tests and drives
// it with chromedp: pages are tested as a person's browser runs them (CSP,
// script, forms, layout), not as a string of HTML.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// EnvBinary names the browser binary; unset, Debian's paths are tried.
const EnvBinary = "SPOTTER_CHROME"

// EnvRequire, set to 1 (scripts/test.sh does), makes a missing browser a
// failure instead of a skip.
const EnvRequire = "SPOTTER_REQUIRE_BROWSER"

// candidates are where Debian's chromium-headless-shell and chromium put
// the browser.
var candidates = []string{
	"/usr/bin/chromium-headless-shell",
	"/usr/lib/chromium/headless_shell",
	"/usr/bin/chromium",
}

// Binary returns the browser to run: $SPOTTER_CHROME, else the first of
// Debian's paths that exists. Without one the test is skipped, or fails
// when SPOTTER_REQUIRE_BROWSER=1.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s: %v", EnvBinary, p, err)
		}
		return p
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "no headless Chromium: apt-get install chromium-headless-shell, or set " + EnvBinary
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start launches a fresh browser with an empty profile and returns a
// context for chromedp.Run; it is closed when the test ends. The
// background-networking flags matter: without them Chromium dials out at
// start, and this machine's closed network refuses it noisily.
func Start(t testing.TB) context.Context {
	t.Helper()
	bin := Binary(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The test servers use self-signed certificates on loopback.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first Run starts the browser: fail here, with its error, rather
	// than in the middle of a test.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// cspKey is where the watcher keeps violations: sessionStorage outlives
// the page, so a violation is still there after a form navigates away.
const cspKey = "browsertest.cspViolations"

// WatchCSP records every Content-Security-Policy violation of every page
// this tab loads from now on (installed through DevTools, which the page's
// CSP does not govern); CSPViolations reads them back.
func WatchCSP(ctx context.Context) error {
	src := `document.addEventListener("securitypolicyviolation", function (e) {
		var a = JSON.parse(sessionStorage.getItem("` + cspKey + `") || "[]");
		a.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " in " + e.documentURI.replace(/\/hooks\/[^/?]+/, "/hooks/<token>"));
		sessionStorage.setItem("` + cspKey + `", JSON.stringify(a));
	});`
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}

// CSPViolations returns (and clears) the violations WatchCSP recorded in
// the current page's origin.
func CSPViolations(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](`(function () {
		var a = JSON.parse(sessionStorage.getItem("`+cspKey+`") || "[]");
		sessionStorage.removeItem("`+cspKey+`");
		return a;
	})()`))
}
