package handlers

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/bootstrap"
)

// Bootstrap is the hand-off: an instance trades its launch's credential
// for its pool's secrets, once. Every refusal is bootstrap's one 401.
func Bootstrap(svc *bootstrap.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in api.BootstrapRequest
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		doc := ""
		if in.Document != "" {
			// A document that is not base64 fails the signature check,
			// as a refusal, not as a 400 that tells it apart.
			if b, err := base64.StdEncoding.DecodeString(in.Document); err == nil {
				doc = string(b)
			} else {
				doc = "\x00"
			}
		}
		g, err := svc.Redeem(c.Request().Context(), bootstrap.Request{Credential: in.Credential, InstanceID: in.InstanceID,
			Document: doc, Signature: strings.ReplaceAll(in.Signature, "\n", ""), Remote: c.RealIP()})
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		if strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/plain") {
			return c.String(http.StatusOK, g.Lines())
		}
		return c.JSON(http.StatusOK, api.BootstrapReply{Code: http.StatusOK, Pool: g.Pool, InstanceID: g.InstanceID, Template: g.Template,
			Agents: g.Agents, TerminateAfterJob: g.TerminateAfterJob, Labels: append([]string{}, g.Labels...), Secrets: g.Secrets, Scoped: g.Scoped,
			Heartbeat: g.Heartbeat, HeartbeatInterval: int(g.HeartbeatInterval / time.Second)})
	}
}

func poolSecret(s bootstrap.SecretInfo) api.PoolSecret {
	return api.PoolSecret{Name: s.Name, Scope: s.Scope, Bytes: s.Bytes, UpdatedAt: s.UpdatedAt}
}

// SetPoolSecret stores one secret of a pool, sealed; ?scope= narrows it
// to a pipeline or repository. The value is never shown again.
func SetPoolSecret(svc *bootstrap.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in api.PoolSecretRequest
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		info, err := svc.SetSecret(c.Request().Context(), c.Param("name"), c.QueryParam("scope"), c.Param("key"), []byte(in.Value))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolSecretReply{Code: http.StatusOK, Pool: c.Param("name"), Secret: poolSecret(info)})
	}
}

// ListPoolSecrets names a pool's secrets with their size and time.
func ListPoolSecrets(svc *bootstrap.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		list, err := svc.ListSecrets(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		out := api.PoolSecretsReply{Code: http.StatusOK, Pool: c.Param("name"), Secrets: make([]api.PoolSecret, 0, len(list))}
		for _, s := range list {
			out.Secrets = append(out.Secrets, poolSecret(s))
		}
		return c.JSON(http.StatusOK, out)
	}
}

// RemovePoolSecret deletes one secret (in ?scope=).
func RemovePoolSecret(svc *bootstrap.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := svc.RemoveSecret(c.Request().Context(), c.Param("name"), c.QueryParam("scope"), c.Param("key")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
