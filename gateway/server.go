// Package gateway is the HTTP side of airflow-gateway: routes, the two dialects, authentication, and the
// mapping of domain errors to HTTP answers.
package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Info is what the gateway found at start.
type Info struct {
	GatewayVersion string
	AirflowVersion string
	AirflowBinary  string
}

// Server serves both dialects over one commands.Service.
type Server struct {
	svc    *commands.Service
	creds  *Credentials
	info   Info
	health *healthCheck
	misses *misses
	echo   *echo.Echo
}

// New returns a Server; its routes are in routes.go.
func New(svc *commands.Service, creds *Credentials, info Info) *Server {
	s := &Server{svc: svc, creds: creds, info: info, health: newHealthCheck(svc), misses: newMisses()}
	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = httpErrorHandler
	s.routes()
	return s
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func requestID(c echo.Context) string {
	return c.Response().Header().Get(echo.HeaderXRequestID)
}

func writeJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	return encodeJSON(c, v)
}

// encodeJSON writes v without escaping <, > and &, so that commands and output read as they are.
func encodeJSON(c echo.Context, v any) error {
	enc := json.NewEncoder(c.Response())
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
