package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/handlers"
	"github.com/spotter-dev/spotter/pages"
)

// addRoutes is the entire HTTP surface of spotter.
func addRoutes(e *echo.Echo, d Deps) {
	e.GET("/healthz", handlers.Healthz())
	e.GET("/readyz", handlers.Readyz(d.Store))
	e.GET("/openapi.json", serveOpenAPI)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler()))
	}

	if d.Tokens != nil {
		admin := e.Group("/v1", handlers.RequireAdmin(d.Admin))
		admin.POST("/tokens", handlers.CreateToken(d.Tokens))
		admin.GET("/tokens", handlers.ListTokens(d.Tokens))
		admin.GET("/tokens/:id", handlers.GetToken(d.Tokens))
		admin.DELETE("/tokens/:id", handlers.RevokeToken(d.Tokens))
		admin.POST("/tokens/:id/rotate", handlers.RotateToken(d.Tokens))
		admin.POST("/tokens/:id/unlock", handlers.UnlockToken(d.Tokens))
		admin.POST("/keys/rotate", handlers.RotateKeys(d.Tokens, d.Keys))
	}
	// Pages: HTML for browsers, with their own headers and error page.
	var pg *pages.Pages
	if d.Tasks.Pipeline != nil || d.Console != nil {
		pg = pages.Must(pages.New(d.now))
		e.GET(pages.StaticPrefix+"*", pg.Static, pg.Headers)
	}
	if d.Pools != nil {
		admin := e.Group("/v1/pools", handlers.RequireAdmin(d.Admin))
		admin.POST("", handlers.CreatePool(d.Pools))
		admin.GET("", handlers.ListPools(d.Pools))
		admin.GET("/:name", handlers.GetPool(d.Pools))
		admin.PATCH("/:name", handlers.UpdatePool(d.Pools))
		admin.DELETE("/:name", handlers.DeletePool(d.Pools))
		admin.POST("/:name/drain", handlers.DrainPool(d.Pools))
		admin.POST("/:name/rotate", handlers.RotatePoolCapability(d.Pools))
		admin.POST("/:name/revoke", handlers.RevokePoolCapability(d.Pools))
		// Demand takes the pool's own capability too, so it is outside
		// the admin guard and checks either itself.
		demand := handlers.NewPoolDemand(d.Pools, d.Admin, d.DemandLimit)
		e.POST("/v1/pools/:name/demand", demand.ByName)
		e.POST("/hooks/:token/demand", demand.ByURL)
		if d.Sources != nil {
			admin.GET("/:name/sources", handlers.GetPoolSources(d.Pools, d.Sources))
			admin.PATCH("/:name/sources", handlers.PatchPoolSources(d.Sources))
			e.POST("/hooks/:token/github", handlers.GitHubPoolHook(d.Pools, d.Sources))
			e.POST("/hooks/:token/buildkite", handlers.BuildkitePoolHook(d.Pools, d.Sources))
		}
	}
	if d.Bootstrap != nil {
		admin := e.Group("/v1/pools/:name/secrets", handlers.RequireAdmin(d.Admin))
		admin.GET("", handlers.ListPoolSecrets(d.Bootstrap))
		admin.PUT("/:key", handlers.SetPoolSecret(d.Bootstrap))
		admin.DELETE("/:key", handlers.RemovePoolSecret(d.Bootstrap))
		// The instance's credential is its only authentication.
		e.POST("/v1/instances/bootstrap", handlers.Bootstrap(d.Bootstrap))
		e.POST("/v1/instances/heartbeat", handlers.Heartbeat(d.Bootstrap))
	}
	if d.Tasks.Pipeline != nil {
		e.POST("/v1/tasks", handlers.TaskByBearer(d.Tasks))
		e.POST("/hooks/:token", handlers.TaskByURL(d.Tasks))
		e.POST("/hooks/:token/slack", handlers.SlackHook(d.Tasks))
		e.POST("/hooks/:token/twilio", handlers.TwilioHook(d.Tasks))
		e.POST("/hooks/:token/mailgun", handlers.MailgunHook(d.Tasks))
		e.POST("/hooks/:token/ifttt", handlers.IFTTTHook(d.Tasks))

		// The capability page: GET /hooks/:token from a browser; its forms
		// and the script's refresh run tasks through the same guard.
		cp := pages.Capability{Pages: pg, Tasks: d.Tasks}
		if d.Console != nil {
			cp.Activity = d.Console.Activity // the same spend records the console reads
		}
		e.GET("/hooks/:token", cp.View, pg.Headers)
		e.GET("/hooks/:token/page", cp.Poll, pg.Headers)
		e.POST("/hooks/:token/page", cp.Act, pg.Headers)
	}
	if d.Console != nil {
		// The operator console. Sign-in alone is open; the group's
		// session check runs first on every other /ui path, unknown ones
		// included, so nothing under /ui answers without a session.
		con := pages.NewConsole(pg, *d.Console)
		e.GET("/ui/signin", con.SignInForm, pg.Headers)
		e.POST("/ui/signin", con.SignIn, pg.Headers)
		ui := e.Group("/ui", pg.Headers, con.RequireSession)
		ui.GET("", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/ui/") })
		ui.GET("/", con.Overview)
		ui.GET("/tokens/:id", con.Token)
		ui.POST("/tokens/:id/revoke", con.Revoke)
		ui.POST("/tokens/:id/rotate", con.Rotate)
		ui.POST("/signout", con.SignOut)
	}
}
