package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/spotter-dev/spotter/api"
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
		var in api.CreateTokenRequest
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		out, err := reg.Create(c.Request().Context(), in)
		if err != nil {
			return err
		}
		out.Code = http.StatusCreated
		return c.JSON(out.Code, out)
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
		out := api.TokenPage{Code: http.StatusOK, Tokens: make([]api.TokenInfo, 0, len(page.Tokens)), NextCursor: page.Next}
		for _, i := range page.Tokens {
			v, err := tokenInfo(c.Request().Context(), reg, i)
			if err != nil {
				return err
			}
			out.Tokens = append(out.Tokens, v)
		}
		return c.JSON(out.Code, out)
	}
}

// GetToken shows one token without secrets.
func GetToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, err := reg.Get(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		v, err := tokenInfo(c.Request().Context(), reg, i)
		if err != nil {
			return err
		}
		out := api.TokenReply{Code: http.StatusOK, TokenInfo: v}
		return c.JSON(out.Code, out)
	}
}

// tokenInfo is a token as show and list give it: its status now and its
// MFA failure record (never a secret), nil for a token without MFA.
func tokenInfo(ctx context.Context, reg *capability.Registry, i capability.Info) (api.TokenInfo, error) {
	l, err := reg.MFALock(ctx, i)
	if err != nil {
		return api.TokenInfo{}, err
	}
	return api.TokenInfo{TokenRecord: i, Status: i.Status(reg.Now()), MFALock: l}, nil
}

// UnlockToken clears a token's MFA lockout, failures and back-off: every
// replica accepts its next right code at once.
func UnlockToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, was, err := reg.UnlockMFA(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		out := api.UnlockedToken{Code: http.StatusOK, ID: i.ID, Status: i.Status(reg.Now()), WasLocked: was.Locked}
		return c.JSON(out.Code, out)
	}
}

// RevokeToken revokes a token: every replica refuses it within seconds.
func RevokeToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		i, err := reg.Revoke(c.Request().Context(), c.Param("id"))
		if err != nil {
			return err
		}
		out := api.RevokedToken{Code: http.StatusOK, ID: i.ID, Status: i.Status(reg.Now())}
		if i.RevokedAt != nil { // always, once Revoke succeeded
			out.RevokedAt = *i.RevokedAt
		}
		return c.JSON(out.Code, out)
	}
}

// RotateToken replaces credentials and/or secrets; the URL stays valid.
func RotateToken(reg *capability.Registry) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in api.RotateTokenRequest
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		out, err := reg.Rotate(c.Request().Context(), c.Param("id"), in)
		if err != nil {
			return err
		}
		out.Code = http.StatusOK
		return c.JSON(out.Code, out)
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
		out := api.KeyRotation{Code: http.StatusOK, KeyID: kid}
		return c.JSON(out.Code, out)
	}
}
