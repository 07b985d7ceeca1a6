// Package pages renders spotter's HTML: today the capability page behind
// each /hooks/<token> URL, opened in a browser. It decides nothing about
// what a task may do: every view and form runs as a task through the one
// guard in package handlers (token, revocation, signature, policy, MFA
// lockout, audit) and renders what came back. Templates and the page's
// small script and style sheet are embedded and served by spotter itself.
//
// The operator console (console*.go, under /ui/) is a second set of
// templates and handlers sharing the layout, headers and the error page.
package pages

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSP allows only spotter's own script and style, nothing inline, no
// frames, no forms posted elsewhere, no <base> to repoint relative URLs.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// CtxErrorPage is the echo.Context key under which a page route leaves an
// ErrorRenderer, so the server's one error handler answers a browser with
// HTML rather than JSON (same status, code and details).
const CtxErrorPage = "spotter.error_page"

// ErrorRenderer writes an error as a page.
type ErrorRenderer func(c echo.Context, status int, code, details string) error

// StaticPrefix is where the page's script and style sheet are served.
const StaticPrefix = "/static/"

// Pages renders spotter's HTML pages.
type Pages struct {
	tmpl   *template.Template
	static http.Handler
	now    func() time.Time
}

// New parses the embedded templates; now is the clock (nil: time.Now).
func New(now func() time.Time) (*Pages, error) {
	if now == nil {
		now = time.Now
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return &Pages{tmpl: t, static: http.StripPrefix(StaticPrefix, http.FileServerFS(sub)), now: now}, nil
}

// Must returns p, or panics with err: the templates are embedded, so a
// parse error is a bug that every test finds.
func Must(p *Pages, err error) *Pages {
	if err != nil {
		panic(err)
	}
	return p
}

// Headers sets what every page and its files carry: the CSP, no framing,
// and the error page for failures. Referrer-Policy: no-referrer, nosniff
// and no-store are the server's, on every reply.
func (p *Pages) Headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		c.Set(CtxErrorPage, ErrorRenderer(p.renderError))
		return next(c)
	}
}

// Static serves the embedded script and style sheet.
func (p *Pages) Static(c echo.Context) error {
	// Not secret and the same for every user: a phone may keep them a while.
	if strings.HasSuffix(c.Request().URL.Path, "/") {
		return echo.ErrNotFound // files only, no listing
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	p.static.ServeHTTP(c.Response(), c.Request())
	return nil
}

// WantsHTML reports a browser's navigation: an Accept naming text/html.
func WantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}

type errorView struct {
	Status   int
	Title    string
	Code     string
	Details  string
	Back     string
	BackText string
}

func (p *Pages) renderError(c echo.Context, status int, code, details string) error {
	v := errorView{Status: status, Title: http.StatusText(status), Code: code, Details: details}
	if tok := c.Param("token"); tok != "" {
		v.Back = pagePath(tok)
	} else if strings.HasPrefix(c.Request().URL.Path, consolePath+"/") {
		v.Back, v.BackText = consolePath+"/", "Back to the console"
	}
	return p.render(c, status, "error.html", v)
}

func (p *Pages) render(c echo.Context, status int, name string, v any) error {
	var b strings.Builder
	if err := p.tmpl.ExecuteTemplate(&b, name, v); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}
