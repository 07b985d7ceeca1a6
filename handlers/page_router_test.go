package handlers_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
)

// A capability page's reads are tasks through the same pipeline as a POST:
// opening the page runs status and price for its token, each reported, and
// a token that needs what a page view cannot give runs nothing.
func TestPageRoute(t *testing.T) {
	f := mustFixture(t)
	tests := map[string]struct {
		token        string
		wantStatus   int
		wantOutcomes []string
	}{
		"a plain token":           {token: "plain", wantStatus: 200, wantOutcomes: []string{"price/ok", "status/ok"}},
		"a token that needs MFA":  {token: "totp", wantStatus: 200},
		"a revoked token":         {token: "revoked", wantStatus: 401},
		"a token that signs each": {token: "signed", wantStatus: 200},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			f.takeOutcomes()
			rec := f.do(http.MethodGet, "/hooks/"+f.raw(tt.token), "", "", map[string]string{echo.HeaderAccept: "text/html"})
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET the %s page = %d; want %d", tt.token, rec.Code, tt.wantStatus)
			}
			got := f.takeOutcomes()
			slices.Sort(got)
			if !slices.Equal(got, tt.wantOutcomes) {
				t.Errorf("pipeline reported %v; want %v", got, tt.wantOutcomes)
			}
		})
	}
}
