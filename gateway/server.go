// Package gateway is the HTTP side of airflow-gateway: routes, the dialects (the plugin's, the command
// dialect, MWAA's, and Airflow's own REST API, forwarded), the jobs, the pages, authentication, and the
// mapping of domain errors to HTTP answers.
package gateway

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/jobs"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
)

// Info is what the gateway found at start.
type Info struct {
	GatewayVersion string
	AirflowVersion string
	AirflowBinary  string
	AirflowWarning string // why the Airflow version is not one the gateway was tested on, when it is not
}

// Options are what a Server is made of, given once to New.
type Options struct {
	// Service resolves and runs commands; required.
	Service *commands.Service
	// Keys are the tokens the gateway accepts and the key of its sessions; required.
	Keys *Keyring
	// Jobs runs the job endpoints' jobs; nil answers them 503.
	Jobs *jobs.Service
	// Info is what the gateway found at start, for the pages and the plugin's version APIs.
	Info Info
	// Log gets the access, audit and fault lines; nil is slog's default logger.
	Log *slog.Logger
	// Limits are what every connection is held to.
	Limits Limits
	// FailedAuthBurst is how many failed authentications a client address may make in a burst before it
	// is answered 429 ([auth] failed_auth_burst); 0 is DefaultFailedAuthBurst.
	FailedAuthBurst int
	// PublicMetrics serves /metrics without a token ([metrics] public); NoMetrics turns the metrics off
	// ([metrics] enabled = False), and /metrics answers 404.
	PublicMetrics, NoMetrics bool
	// CheckHealth starts the first metadata DB check at once, so that /health has an answer soon after
	// the start rather than after its first request.
	CheckHealth bool
}

// Server serves every dialect and the jobs over one commands.Service.
type Server struct {
	svc     *commands.Service
	jobs    *jobs.Service // nil when the gateway serves no jobs
	keys    *Keyring
	info    Info
	opts    Options
	health  *healthCheck
	misses  *misses
	origins *http.CrossOriginProtection
	metrics *metrics
	log     *slog.Logger
	echo    *echo.Echo
	pages   dialect
	// api is Airflow's REST API (SetAirflowAPI), proxied by proxy; nil until it is known.
	api   atomic.Pointer[airflowAPI]
	proxy *httputil.ReverseProxy
}

// New returns the Server that o describes; its routes are in routes.go. Airflow's REST API is served
// once SetAirflowAPI says where it is.
func New(o Options) (*Server, error) {
	if o.Service == nil || o.Keys == nil {
		return nil, errors.New("a gateway needs a command service and a keyring")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.FailedAuthBurst == 0 {
		o.FailedAuthBurst = DefaultFailedAuthBurst
	}
	s := &Server{svc: o.Service, jobs: o.Jobs, keys: o.Keys, info: o.Info, opts: o, log: o.Log,
		health: newHealthCheck(o.Service), misses: newMisses(o.FailedAuthBurst), origins: http.NewCrossOriginProtection()}
	s.echo = echo.New()
	s.echo.HideBanner, s.echo.HidePort = true, true
	s.echo.HTTPErrorHandler = s.handleError
	s.pages = pages{s}
	s.proxy = s.newProxy()
	s.metrics = newMetrics(s)
	s.routes()
	if o.CheckHealth {
		s.health.last()
	}
	return s, nil
}

// airflowAPI is Airflow's REST API as the gateway serves it: a client, or why there is none.
type airflowAPI struct {
	client *airflowapi.Client
	none   *commands.Error
}

// SetAirflowAPI forwards Airflow's REST API to client, or, when client is nil, answers those routes 404
// saying why there is none (whyNone). Until it is called, they answer 503: the API is being looked for.
// It is the one thing about a Server that may change once it serves: the API can be found after the start.
func (s *Server) SetAirflowAPI(client *airflowapi.Client, whyNone string) {
	api := &airflowAPI{client: client}
	if client == nil {
		api.none = commands.Errorf(commands.ENOTFOUND,
			"Airflow's REST API is not served by this gateway: %s. Set [airflow_api] url to Airflow's webserver (2.x) or API server (3.x), such as http://127.0.0.1:8081, and [airflow_api] users_file, and restart", whyNone)
	}
	s.api.Store(api)
}

// airflowClient returns the client of Airflow's REST API, or why the API is not served.
func (s *Server) airflowClient() (*airflowapi.Client, error) {
	api := s.api.Load()
	switch {
	case api == nil:
		return nil, commands.Errorf(commands.EUNAVAILABLE,
			"the gateway is still looking for Airflow's REST API ([airflow_api] url is empty, so Airflow's own configuration is asked); retry in a few seconds")
	case api.client == nil:
		return nil, api.none
	}
	return api.client, nil
}

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
