package gateway

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Keys under which handlers leave what the access log reports, and the access log when the request came.
const (
	commandPathKey = "command_path"
	exitCodeKey    = "exit_code"
	startKey       = "start"
	routeKey       = "route" // a route finer than Echo's: Airflow's REST API by its templated path
)

// requestStart is when the request came in, before authentication.
func requestStart(c echo.Context) time.Time {
	if t, ok := c.Get(startKey).(time.Time); ok {
		return t
	}
	return time.Now()
}

// accessLog writes one line per request: request id, client address, token name (never the token),
// dialect, command path, status, exit code and duration.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		c.Set(startKey, start)
		err := next(c)
		if err != nil {
			c.Error(err) // answer now, so that the status below is the one sent
		}
		attrs := []any{
			"request_id", requestID(c),
			"client", clientAddress(c.Request()),
			"token", principalOf(c).Name,
			"dialect", s.dialectOf(c.Request()).name(),
			"method", c.Request().Method,
			"path", c.Request().URL.Path,
			"status", c.Response().Status,
			"duration_ms", time.Since(start).Milliseconds(),
		}
		if p, ok := c.Get(commandPathKey).(string); ok {
			attrs = append(attrs, "command", p)
		}
		if code, ok := c.Get(exitCodeKey).(int); ok {
			attrs = append(attrs, "exit_code", code)
		}
		if code, ok := c.Get(upstreamStatusKey).(int); ok {
			attrs = append(attrs, "upstream_status", code, "upstream_ms", c.Get(upstreamTimeKey))
		}
		s.log.Info("request", attrs...)
		route := c.Path()
		if r, ok := c.Get(routeKey).(string); ok {
			route = r
		}
		s.metrics.request(route, c.Request().Method, c.Response().Status, time.Since(start))
		return nil
	}
}

// noteRun records a command that ran for the access log, and writes an audit line when the command can
// change state (any class but read).
func (s *Server) noteRun(c echo.Context, inv *commands.Invocation, res *commands.Result, err error) {
	c.Set(commandPathKey, inv.Path())
	s.metrics.command(inv.Path(), res, err)
	if res == nil {
		return
	}
	c.Set(exitCodeKey, res.ExitCode)
	if inv.ReadOnly() {
		return
	}
	p := principalOf(c)
	s.log.Info("audit",
		"request_id", requestID(c),
		"token", p.Name,
		"role", p.Role.String(),
		"class", string(inv.Entry.Class),
		"airflow_cmd", inv.String(),
		"exit_code", res.ExitCode,
		"timed_out", res.TimedOut,
	)
}

// auditDeploy writes the audit line of a deploy_dag that wrote its file.
func (s *Server) auditDeploy(c echo.Context, d *commands.Deployment) {
	c.Set(commandPathKey, "deploy_dag")
	s.metrics.deploys.WithLabelValues("written").Inc()
	p := principalOf(c)
	s.log.Info("audit",
		"request_id", requestID(c),
		"token", p.Name,
		"role", p.Role.String(),
		"class", "deploy",
		"file", d.Name,
		"backup", d.Backup,
		"airflow_cmd", strings.Join(d.Commands, " && "),
	)
}
