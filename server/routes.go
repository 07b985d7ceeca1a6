package server

import (
	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/handlers"
)

// addRoutes is the entire HTTP surface of spotter.
func addRoutes(e *echo.Echo, d Deps) {
	e.GET("/healthz", handlers.Healthz())
	e.GET("/readyz", handlers.Readyz(d.Store))
}
