package handlers

import (
	"encoding/json"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/pools"
	"github.com/spotter-dev/spotter/sources"
)

// GetPoolSources shows a pool's CI sources, secrets only as set or not.
func GetPoolSources(reg *pools.Registry, src *sources.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec, err := reg.Get(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		cfg, err := src.Config(c.Request().Context(), rec)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolSourcesReply{Code: http.StatusOK, Pool: rec.Pool.Name, Sources: sources.View(cfg)})
	}
}

// PatchPoolSources merges the body into a pool's CI sources.
func PatchPoolSources(src *sources.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := readBody(c)
		if err != nil {
			return err
		}
		if !isJSON(c, body) {
			return apperr.New(apperr.Unsupported, "send JSON (Content-Type: application/json)")
		}
		if err := checkKeys(body, &api.PoolSources{}); err != nil {
			return err
		}
		var patch map[string]json.RawMessage
		if err := decodeJSON(body, &patch); err != nil {
			return err
		}
		name := c.Param("name")
		cfg, err := src.Patch(c.Request().Context(), name, patch)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.PoolSourcesReply{Code: http.StatusOK, Pool: name, Sources: sources.View(cfg)})
	}
}

// GitHubPoolHook serves POST /hooks/<pool capability>/github.
func GitHubPoolHook(reg *pools.Registry, src *sources.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec, err := reg.Authenticate(c.Request().Context(), c.Param("token"))
		if err != nil {
			return err
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		h := c.Request().Header
		out, err := src.GitHub(c.Request().Context(), rec, sources.Delivery{
			Event: h.Get("X-GitHub-Event"), ID: h.Get("X-GitHub-Delivery"), Signature: h.Get("X-Hub-Signature-256"),
			Body: body, JSON: jsonMedia(h.Get(echo.HeaderContentType))})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

// jsonMedia is strict, unlike isJSON: a provider's webhook says what it sends.
func jsonMedia(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// BuildkitePoolHook serves POST /hooks/<pool capability>/buildkite.
func BuildkitePoolHook(reg *pools.Registry, src *sources.Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		rec, err := reg.Authenticate(c.Request().Context(), c.Param("token"))
		if err != nil {
			return err
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		h := c.Request().Header
		out, err := src.Buildkite(c.Request().Context(), rec, sources.Delivery{
			Event: h.Get("X-Buildkite-Event"), Signature: h.Get("X-Buildkite-Signature"), Token: h.Get("X-Buildkite-Token"),
			Body: body, JSON: jsonMedia(h.Get(echo.HeaderContentType))})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}
