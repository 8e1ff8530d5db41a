package gateway

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// maxRequestBody bounds every request body but deploy_dag uploads.
const maxRequestBody = "1M"

// tooLargeMessage answers a body over maxRequestBody, whether the limit was seen from Content-Length or
// while reading.
var tooLargeMessage = fmt.Sprintf("the request body is over %s; a command is at most %d bytes", maxRequestBody, commands.MaxCommandBytes)

// pluginAPI is the plugin dialect's endpoint, which takes deploy_dag uploads.
const pluginAPI = "/admin/rest_api/api"

// routes lists every endpoint of the gateway.
func (s *Server) routes() {
	e := s.echo
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(middleware.Recover())

	e.GET("/health", s.handleHealth)
	e.GET("/health/live", s.handleLive)
	e.GET("/health/ready", s.handleHealth) // /health under the name a readiness probe looks for
	if s.opts.PublicMetrics {
		e.GET("/metrics", s.handleMetrics())
	} else {
		e.GET("/metrics", s.handleMetrics(), s.authenticate)
	}
	e.GET("/api/v1/openapi.json", s.handleOpenAPI())

	e.GET("/login", s.handleLogin)
	e.POST("/login", s.handleLogin, s.crossOrigin)
	e.GET("/logout", s.handleLogout)
	e.POST("/logout", s.handleLogout)

	api := e.Group("/api/v1", s.crossOrigin, middleware.BodyLimit(maxRequestBody), s.authenticate, s.requireCSRF)
	api.GET("/command", s.handleCommand)
	api.POST("/command", s.handleCommand)
	api.GET("/commands", s.handleCommands)
	api.POST("/jobs", s.handleJobStart)
	api.GET("/jobs", s.handleJobs)
	api.GET("/jobs/:id", s.handleJob)
	api.DELETE("/jobs/:id", s.handleJobCancel)
	api.GET("/jobs/:id/output", s.handleJobOutput)
	api.POST("/tokens", s.handleMint)

	// Airflow's REST API, after the gateway's own /api/v1 endpoints, which its wildcard does not take.
	for _, prefix := range []string{"/api/v1/*", "/api/v2/*"} {
		e.Any(prefix, s.handleREST, s.crossOrigin, middleware.BodyLimit(maxRequestBody), s.authenticateREST, s.requireCSRF)
	}

	// The MWAA dialect, and MWAA's two ways to log in.
	e.POST(mwaaCLI, s.handleMWAA, s.crossOrigin, middleware.BodyLimit(maxRequestBody), s.authenticate, s.requireCSRF)
	e.POST("/aws_mwaa/login", s.handleLogin, s.crossOrigin)
	e.GET("/aws_mwaa/aws-console-sso", s.handleConsoleSSO)

	// The admin page; its assets hold nothing secret and are served to anyone.
	e.GET("/", redirectTo(adminPage))
	e.GET("/admin/rest_api", redirectTo(adminPage))
	e.GET(adminPage, s.handleAdminPage, s.authenticate)
	e.GET(adminPage+"static/*", staticFiles)

	// The plugin dialect reads its own body: deploy_dag uploads may be larger than maxRequestBody.
	plugin := e.Group("/admin/rest_api", s.crossOrigin, s.authenticate, s.requireCSRF)
	plugin.GET("/api", s.handlePluginAPI)
	plugin.POST("/api", s.handlePluginAPI)
}

func redirectTo(path string) echo.HandlerFunc {
	return func(c echo.Context) error { return c.Redirect(http.StatusFound, path) }
}
