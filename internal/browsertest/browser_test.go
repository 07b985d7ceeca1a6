package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
