package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/apperr"
	"github.com/spotter-dev/spotter/capability"
)

// AdminChecker checks the operator's bearer token.
type AdminChecker interface {
	Check(authorization string) error
}

// RequireAdmin guards the admin API.
func RequireAdmin(a AdminChecker) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := a.Check(c.Request().Header.Get(echo.HeaderAuthorization)); err != nil {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="spotter-admin"`)
				return err
			}
			return next(c)
		}
	}
}

func decodeAdmin(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if !isJSON(c, body) {
		return apperr.New(apperr.Unsupported, "send JSON (Content-Type: application/json)")
	}
	return decodeJSON(body, v)
}

// CreateToken registers credentials and returns the capability token once.
func CreateToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in capability.CreateInput
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		out, err := reg.Create(c.Request().Context(), in)
		if err != nil {
			return err
		}
		v := merge(map[string]any{}, out)
		v["status"] = out.Status(reg.Now())
		return reply(c, http.StatusCreated, v)
	}
}

// ListTokens lists one page of tokens without secrets, in id order:
// ?limit=N (1 to capability.MaxPageSize) and ?cursor= from the previous
// reply's nextCursor, which is absent on the last page.
func ListTokens(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit := 0
		if s := c.QueryParam("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return apperr.New(apperr.Invalid, "limit %q is not a whole number; use 1 to %d", s, capability.MaxPageSize)
			}
			if n == 0 {
				n = -1 // an explicit 0 is a mistake, not "the default"
			}
			limit = n
		}
		page, err := reg.ListPage(c.Request().Context(), c.QueryParam("cursor"), limit)
		if err != nil {
			return err
		}
		list := make([]map[string]any, 0, len(page.Tokens))
		for _, i := range page.Tokens {
			v := merge(map[string]any{}, i)
			v["status"] = i.Status(reg.Now())
			if err := addMFALock(c.Request().Context(), reg, i, v); err != nil {
				return err
			}
			list = append(list, v)
		}
		out := map[string]any{"tokens": list}
		if page.Next != "" {
			out["nextCursor"] = page.Next
		}
		return reply(c, http.StatusOK, out)
	}
}

// GetToken shows one token without secrets.
func GetToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, err := reg.Get(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		v := merge(map[string]any{}, i)
		v["status"] = i.Status(reg.Now())
		if err := addMFALock(c.Request().Context(), reg, i, v); err != nil {
			return err
		}
		return reply(c, http.StatusOK, v)
	}
}

// addMFALock adds a token's MFA failure record (never a secret) as "mfaLock".
func addMFALock(ctx context.Context, reg *capability.Registry, i capability.Info, v map[string]any) error {
	l, err := reg.MFALock(ctx, i)
	if err != nil {
		return err
	}
	if l != nil {
		v["mfaLock"] = l
	}
	return nil
}

// UnlockToken clears a token's MFA lockout, failures and back-off: every
// replica accepts its next right code at once.
func UnlockToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, was, err := reg.UnlockMFA(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		return reply(c, http.StatusOK, map[string]any{"id": i.ID, "status": i.Status(reg.Now()),
			"wasLocked": was.Locked, "mfaLock": capability.MFALock{}})
	}
}

// RevokeToken revokes a token: every replica refuses it within seconds.
func RevokeToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, err := reg.Revoke(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		return reply(c, http.StatusOK, map[string]any{"id": i.ID, "revokedAt": i.RevokedAt, "status": i.Status(reg.Now())})
	}
}

// RotateToken replaces credentials and/or secrets; the URL stays valid.
func RotateToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in capability.RotateInput
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		out, err := reg.Rotate(c.Request().Context(), c.Param("id"), in)
		if err != nil {
			return err
		}
		v := merge(map[string]any{}, out)
		v["status"] = out.Status(reg.Now())
		return reply(c, http.StatusOK, v)
	}
}

// KeyRotator adds a token-signing key.
type KeyRotator interface {
	Rotate(ctx context.Context) (string, error)
}

// RotateKeys makes new tokens use a new signing key; old tokens keep working.
func RotateKeys(reg *capability.Registry, keys KeyRotator) echo.HandlerFunc {
	return func(c echo.Context) error {
		kid, err := reg.RotateKeys(c.Request().Context(), keys.Rotate)
		if err != nil {
			return err
		}
		return reply(c, http.StatusOK, map[string]any{"keyId": kid})
	}
}
