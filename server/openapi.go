package server

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI documents the whole HTTP surface. openapi_test.go keeps it true:
// every registered route is in it, nothing else is, and every example
// request it shows is accepted by the live handlers.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the document, for tests and tools.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", openAPI)
}
