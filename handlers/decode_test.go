package handlers

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/spotter-dev/spotter/apperr"
)

// errReader fails every read, as a connection reset mid-body would.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// readBody turns either body cap (Echo's middleware, net/http's
// MaxBytesReader) into a 413, at the limit and one byte past it, and any
// other read failure into invalid_request.
func TestReadBody(t *testing.T) {
	const limit = 4
	viaNetHTTP := func(body io.Reader) ([]byte, error) {
		e := echo.New()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Body = http.MaxBytesReader(rec, io.NopCloser(body), limit)
		return readBody(e.NewContext(req, rec))
	}
	viaEcho := func(body io.Reader) (got []byte, err error) {
		e := echo.New()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", body)
		req.ContentLength = -1 // unknown length: the cap must act on the read, not the header
		h := middleware.BodyLimit("4B")(func(c echo.Context) error {
			got, err = readBody(c)
			return nil
		})
		if herr := h(e.NewContext(req, rec)); herr != nil {
			t.Fatalf("middleware refused before the handler read: %v", herr)
		}
		return got, err
	}
	tests := map[string]struct {
		read       func(io.Reader) ([]byte, error)
		body       io.Reader
		wantStatus int    // 0: read succeeds
		wantCode   string // apperr code when the error is no HTTP error
	}{
		"net/http at the limit":     {read: viaNetHTTP, body: strings.NewReader("abcd")},
		"net/http one byte past":    {read: viaNetHTTP, body: strings.NewReader("abcde"), wantStatus: http.StatusRequestEntityTooLarge},
		"echo at the limit":         {read: viaEcho, body: strings.NewReader("abcd")},
		"echo one byte past":        {read: viaEcho, body: strings.NewReader("abcde"), wantStatus: http.StatusRequestEntityTooLarge},
		"read failure is no 413":    {read: viaNetHTTP, body: errReader{}, wantCode: apperr.Invalid},
		"empty body reads as empty": {read: viaNetHTTP, body: strings.NewReader("")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tt.read(tt.body)
			var he *echo.HTTPError
			switch {
			case tt.wantStatus != 0:
				if !errors.As(err, &he) || he.Code != tt.wantStatus {
					t.Fatalf("readBody = %q, %v; want HTTP %d", got, err, tt.wantStatus)
				}
			case tt.wantCode != "":
				if errors.As(err, &he) || apperr.Code(err) != tt.wantCode {
					t.Fatalf("readBody = %q, %v; want %s", got, err, tt.wantCode)
				}
			case err != nil || len(got) > limit:
				t.Fatalf("readBody = %q, %v; want the body", got, err)
			}
		})
	}
}

// describeJSONError words each decoder failure for the client; the unknown
// field case reads encoding/json's text, so this pins that wording.
func TestDescribeJSONError(t *testing.T) {
	type inner struct {
		Count int `json:"count"`
	}
	type body struct {
		Name  string `json:"name"`
		Inner inner  `json:"inner"`
	}
	tests := map[string]struct {
		body, want string
	}{
		"unknown field":        {body: `{"nmae":"x"}`, want: `unknown field "nmae"`},
		"unknown nested field": {body: `{"inner":{"cuont":1}}`, want: `unknown field "cuont"`},
		"wrong type":           {body: `{"inner":{"count":"9"}}`, want: `field "inner.count" must be int, not string`},
		"malformed":            {body: `{"name":"x",}`, want: "malformed JSON at byte 13"},
		"ends early":           {body: `{"name":"x"`, want: "the JSON ends early"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := decodeJSON([]byte(tt.body), &body{})
			if apperr.Code(err) != apperr.Invalid || apperr.Details(err) != tt.want {
				t.Fatalf("decodeJSON(%s) = %v (%q); want invalid_request %q", tt.body, err, apperr.Details(err), tt.want)
			}
		})
	}
}
