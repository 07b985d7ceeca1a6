package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/bootstrap"
)

// Heartbeat records a pool instance's liveness. A body that does not
// parse is refused as any JSON is (400, 413) and audited; every refused
// credential is bootstrap's one 401.
func Heartbeat(svc *bootstrap.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in api.HeartbeatRequest
		if err := decodeAdmin(c, &in); err != nil {
			reason := "malformed_body"
			if he := (*echo.HTTPError)(nil); errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
				reason = "oversized_body"
			}
			svc.RefuseHeartbeat(c.Request().Context(), c.RealIP(), reason)
			return err
		}
		every, err := svc.Heartbeat(c.Request().Context(), bootstrap.HeartbeatRequest{Credential: in.Credential, InstanceID: in.InstanceID,
			State: in.State, Remote: c.RealIP()})
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, api.HeartbeatReply{Code: http.StatusOK, Interval: int(every / time.Second)})
	}
}
