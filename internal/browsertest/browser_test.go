package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/spotter-dev/spotter/internal/browsertest"
)

// The browser starts, loads a page over HTTP and runs its script: what every
// page test builds on.
func TestBrowserRunsAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, `<!doctype html><title>t</title><p id="p">before</p><script src="/s.js"></script>`)
		case "/s.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.getElementById("p").textContent = "after " + (6*7);`)
		}
	}))
	defer srv.Close()
	ctx := browsertest.Start(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text("#p"))
	if err != nil {
		t.Fatal(err)
	}
	if got != "after 42" {
		t.Fatalf("text = %q, want the script's %q", got, "after 42")
	}
}

// The watcher sees what a page's CSP blocks, across a navigation, and
// nothing on a page that keeps to its policy.
func TestWatchCSP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'")
		switch r.URL.Path {
		case "/clean":
			fmt.Fprint(w, `<!doctype html><title>t</title><p>fine</p>`)
		case "/inline":
			fmt.Fprint(w, `<!doctype html><title>t</title><script>document.title = "ran"</script>`)
		}
	}))
	defer srv.Close()
	ctx := browsertest.Start(t)
	if err := browsertest.WatchCSP(ctx); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/inline"), chromedp.Navigate(srv.URL+"/clean")); err != nil {
		t.Fatal(err)
	}
	got, err := browsertest.CSPViolations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "script-src-elem blocked inline") {
		t.Fatalf("violations = %q; want the inline script's, once", got)
	}
	if got, _ := browsertest.CSPViolations(ctx); len(got) != 0 {
		t.Errorf("violations after reading = %q; want them cleared", got)
	}
}
