// Package gateway is the HTTP side of airflow-gateway: routes, the dialects (plugin, command, MWAA),
// the jobs, authentication, and the
// mapping of domain errors to HTTP answers.
package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
)

// Info is what the gateway found at start.
type Info struct {
	GatewayVersion string
	AirflowVersion string
	AirflowBinary  string
	AirflowWarning string // why the Airflow version is not one the gateway was tested on, when it is not
}

// Server serves every dialect and the jobs over one commands.Service.
type Server struct {
	svc     *commands.Service
	jobs    *jobs.Service // set by ServeJobs; nil only in tests that serve no jobs
	keys    *Keyring
	info    Info
	health  *healthCheck
	misses  *misses
	origins *http.CrossOriginProtection
	metrics *metrics
	// PublicMetrics serves /metrics without a token ([metrics] public); set it before serving.
	PublicMetrics bool
	// Limits are the connection limits; set them before serving.
	Limits Limits
	log    *slog.Logger
	echo   *echo.Echo
	pages  dialect
	// upstream is Airflow's REST API (ServeAirflowAPI), proxied by proxy; nil until it is known.
	upstream   atomic.Pointer[Upstream]
	noUpstream atomic.Pointer[commands.Error] // why there is none (NoAirflowAPI)
	proxy      *httputil.ReverseProxy
}

// New returns a Server that writes its access and audit lines to log; its routes are in routes.go.
func New(svc *commands.Service, creds *Keyring, info Info, log *slog.Logger) *Server {
	s := &Server{svc: svc, keys: creds, info: info, health: newHealthCheck(svc), misses: newMisses(), log: log,
		origins: http.NewCrossOriginProtection()}
	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = s.handleError
	s.pages = pages{s}
	s.proxy = s.newProxy()
	s.metrics = newMetrics(s)
	s.routes()
	return s
}

// ServeJobs serves the job endpoints with js.
func (s *Server) ServeJobs(js *jobs.Service) { s.jobs = js }

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
