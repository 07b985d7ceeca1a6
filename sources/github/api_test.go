package github

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestListStaysOnAPIHost: a Link header that points at another host is
// not followed, so the token goes nowhere but the API.
func TestListStaysOnAPIHost(t *testing.T) {
	var stolen atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), "tok") {
			stolen.Add(1)
		}
		_, _ = w.Write([]byte(`{"workflow_runs": []}`))
	}))
	defer evil.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<`+evil.URL+`/repos/o/r/actions/runs?page=2>; rel="next"`)
		_, _ = w.Write([]byte(`{"workflow_runs": []}`))
	}))
	defer api.Close()
	c := &Client{HTTP: api.Client(), Base: api.URL, Token: "tok"}
	_, err := c.OpenJobs(context.Background(), "o/r")
	if err == nil || !strings.Contains(err.Error(), "off the API host") {
		t.Fatalf("OpenJobs = %v; want the off-host link refused", err)
	}
	if stolen.Load() != 0 {
		t.Fatal("the token was sent to the Link's host")
	}
}
