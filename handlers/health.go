// Package handlers turns HTTP requests into calls on spotter's domain
// packages. Each maker takes only the dependencies it uses.
package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
)

// Pinger reports whether a backend answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Healthz answers 200 while the process is up.
func Healthz() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, api.Health{Code: http.StatusOK, Status: "ok"})
	}
}

// Readyz answers 200 only when the store answers within a short deadline, so a
// load balancer stops sending traffic to a replica that lost Vault.
func Readyz(store Pinger) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			return apperr.Wrap(err, apperr.Unavailable, "the secrets store does not answer")
		}
		return c.JSON(http.StatusOK, api.Health{Code: http.StatusOK, Status: "ready"})
	}
}
