package server

import (
	"encoding/json"

	"github.com/labstack/echo/v4"
)

// plainJSON writes replies without encoding/json's HTML escaping, so the
// details people read in a terminal say "Bearer <token>", not
// "Bearer \u003ctoken\u003e". Replies are application/json with nosniff,
// never HTML; a page that embeds one escapes it itself.
type plainJSON struct{ echo.DefaultJSONSerializer }

func (plainJSON) Serialize(c echo.Context, i any, indent string) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	return enc.Encode(i)
}
