package spot

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/spotter-dev/spotter/apperr"
)

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The pool-price lookup runs on its own goroutine; a panic there (here the
// transport's, on DescribeSpotPriceHistory) fails that launch with an
// internal error instead of ending the process.
func TestPoolPricePanicFailsTheLaunch(t *testing.T) {
	e := mustEnv(t)
	var mu sync.Mutex
	var logs bytes.Buffer
	base := e.srv.Client().Transport
	c, err := New(Config{
		EC2Endpoint: e.srv.URL, STSEndpoint: e.srv.URL, PricingEndpoint: e.srv.URL, DefaultRegion: region, Now: e.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil)),
		HTTPClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if q, _ := url.ParseQuery(string(body)); q.Get("Action") == "DescribeSpotPriceHistory" {
				panic("injected: price lookup")
			}
			return base.RoundTrip(r)
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Launch(context.Background(), e.spec("tokPanic", "k1", 1))
	if apperr.Code(err) != apperr.Internal {
		t.Fatalf("Launch = %v; want internal_error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), `"msg":"spot price lookup panicked"`) || !strings.Contains(logs.String(), "injected: price lookup") {
		t.Errorf("log %q; want the panic", logs.String())
	}
	if n := e.callCount("CreateFleet"); n != 0 {
		t.Errorf("CreateFleet called %d times", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
