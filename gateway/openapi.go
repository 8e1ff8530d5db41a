package gateway

import (
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of every endpoint in routes.go. TestResponsesMatchOpenAPI
// checks the answers of the HTTP tests against it, and schemathesis checks a live gateway against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the document as this server serves it: the plugin token's header carries the name the
// configuration gives it.
func OpenAPI(header string) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, err
	}
	schemes := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)
	schemes["pluginToken"].(map[string]any)["name"] = header
	return json.MarshalIndent(doc, "", "  ")
}

// handleOpenAPI answers GET /api/v1/openapi.json, without authentication: the document describes the
// API, not the Airflow behind it.
func (s *Server) handleOpenAPI() echo.HandlerFunc {
	doc, err := OpenAPI(s.keys.header)
	if err != nil {
		panic("the embedded OpenAPI document does not parse: " + err.Error()) // a build fault, caught by every test
	}
	return func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
	}
}
