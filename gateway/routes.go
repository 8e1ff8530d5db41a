package gateway

import (
	"github.com/labstack/echo/v4/middleware"
)

// maxRequestBody bounds every request body but deploy_dag uploads.
const maxRequestBody = "1M"

// routes lists every endpoint of the gateway.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())

	e.GET("/health", s.handleHealth)

	api := e.Group("/api/v1", middleware.BodyLimit(maxRequestBody), s.authenticate(denyProblem))
	api.GET("/command", s.handleCommand)
	api.POST("/command", s.handleCommand)
	api.GET("/commands", s.handleCommands)
}
