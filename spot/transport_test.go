package spot

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
)

func TestWholeBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/error":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("<Response><Errors><Error><Code>Bad</Code></Error></Errors></Response>"))
		default:
			w.Write([]byte("<ok/>"))
		}
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name     string
		path     string
		max      int64
		wantBody string
		wantErr  string
	}{
		{name: "answer passes through", path: "/", wantBody: "<ok/>"},
		{name: "error answer passes through", path: "/error", wantBody: "<Response><Errors><Error><Code>Bad</Code></Error></Errors></Response>"},
		{name: "at the bound", path: "/big", max: 2048, wantBody: strings.Repeat("x", 2048)},
		{name: "over the bound", path: "/big", max: 2047, wantErr: "more than 2047 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: wholeBodies{next: srv.Client().Transport, max: tt.max}}
			resp, err := c.Get(srv.URL + tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Get = %v; want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tt.wantBody || resp.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("body %q (length %d); want %q", b, resp.ContentLength, tt.wantBody)
			}
		})
	}
}

// TestWholeBodiesFreesTheConnection: the connection serves the next call
// while the previous answer is still being decoded.
func TestWholeBodiesFreesTheConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<ok/>")) }))
	t.Cleanup(srv.Close)
	c := httpClient(srv.Client())
	first, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close() // not read yet: the SDK would still be decoding it
	reused := false
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	second, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if !reused {
		t.Error("the second call dialed anew; want the first call's connection, free once its answer was read")
	}
}
