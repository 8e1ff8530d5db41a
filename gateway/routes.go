package gateway

import (
	"fmt"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/labstack/echo/v4/middleware"
)

// maxRequestBody bounds every request body but deploy_dag uploads.
const maxRequestBody = "1M"

// tooLargeMessage answers a body over maxRequestBody, whether the limit was seen from Content-Length or
// while reading.
var tooLargeMessage = fmt.Sprintf("the request body is over %s; a command is at most %d bytes", maxRequestBody, commands.MaxCommandBytes)

// routes lists every endpoint of the gateway.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(middleware.Recover())

	e.GET("/health", s.handleHealth)

	e.GET("/login", s.handleLogin)
	e.POST("/login", s.handleLogin, s.crossOrigin(refuseProblem))
	e.GET("/logout", s.handleLogout)
	e.POST("/logout", s.handleLogout)

	api := e.Group("/api/v1", s.crossOrigin(refuseProblem), middleware.BodyLimit(maxRequestBody), s.authenticate(denyProblem))
	api.GET("/command", s.handleCommand)
	api.POST("/command", s.handleCommand)
	api.GET("/commands", s.handleCommands)

	// The plugin dialect reads its own body: deploy_dag uploads may be larger than maxRequestBody.
	plugin := e.Group("/admin/rest_api", stampCallTime, s.crossOrigin(refuseEnvelope), s.authenticate(denyEnvelope))
	plugin.GET("/api", s.handlePluginAPI)
	plugin.POST("/api", s.handlePluginAPI)
}
