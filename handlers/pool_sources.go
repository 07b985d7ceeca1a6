package handlers

import (
	"context"
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
	return poolHook(reg, src.GitHub, func(h http.Header) sources.Delivery {
		return sources.Delivery{Event: h.Get("X-GitHub-Event"), ID: h.Get("X-GitHub-Delivery"), Signature: h.Get("X-Hub-Signature-256")}
	})
}

// BuildkitePoolHook serves POST /hooks/<pool capability>/buildkite.
func BuildkitePoolHook(reg *pools.Registry, src *sources.Service) echo.HandlerFunc {
	return poolHook(reg, src.Buildkite, func(h http.Header) sources.Delivery {
		return sources.Delivery{Event: h.Get("X-Buildkite-Event"), Signature: h.Get("X-Buildkite-Signature"), Token: h.Get("X-Buildkite-Token")}
	})
}

// poolHook authenticates the pool capability, then hands the raw body and
// the provider's headers (picked by headers) to deliver, which checks the
// provider's own proof before it reads the body.
func poolHook(reg *pools.Registry, deliver func(context.Context, pools.Record, sources.Delivery) (api.SourceEventReply, error),
	headers func(http.Header) sources.Delivery) echo.HandlerFunc {
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
		d := headers(h)
		d.Body, d.JSON = body, jsonMedia(h.Get(echo.HeaderContentType))
		out, err := deliver(c.Request().Context(), rec, d)
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
