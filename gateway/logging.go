package gateway

import (
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// accessLog writes one line per request: request id, client address, token name (never the token),
// dialect, command path, status, exit code and duration.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err) // answer now, so that the status below is the one sent
		}
		rec := recordOf(c)
		took := time.Since(rec.start)
		attrs := []any{
			"request_id", requestID(c),
			"client", clientAddress(c.Request()),
			"token", principalOf(c).Name,
			"dialect", rec.dialect.name(),
			"method", c.Request().Method,
			"path", rec.path,
			"status", c.Response().Status,
			"duration_ms", took.Milliseconds(),
		}
		if rec.command != "" {
			attrs = append(attrs, "command", rec.command)
		}
		if rec.exitCode != nil {
			attrs = append(attrs, "exit_code", *rec.exitCode)
		}
		if call := rec.rest; call != nil && call.status != 0 {
			if call.person != "" {
				attrs = append(attrs, "airflow_user", call.person)
			}
			attrs = append(attrs, "upstream_status", call.status, "upstream_ms", call.took.Milliseconds())
		}
		s.log.Info("request", attrs...)
		route := rec.route
		if route == "" {
			route = c.Path()
		}
		s.metrics.request(route, c.Request().Method, c.Response().Status, took)
		return nil
	}
}

// noteRun records a command that ran for the access log, and writes an audit line when the command can
// change state (any class but read).
func (s *Server) noteRun(c echo.Context, inv *commands.Invocation, res *commands.Result, err error) {
	rec := recordOf(c)
	rec.command = inv.Path()
	s.metrics.command(inv.Path(), res, err)
	if res == nil {
		return
	}
	rec.exitCode = &res.ExitCode
	if inv.ReadOnly() {
		return
	}
	p := principalOf(c)
	s.log.Info("audit",
		"request_id", requestID(c),
		"token", p.Name,
		"role", p.Role.String(),
		"scope", p.Scope.String(),
		"class", string(inv.Entry.Class),
		"airflow_cmd", inv.String(),
		"exit_code", res.ExitCode,
		"timed_out", res.TimedOut,
	)
}

// refusedByScope writes the audit line of a request its credential's scope refused, naming the scope
// that refused it, and counts it by reason.
func (s *Server) refusedByScope(c echo.Context, r *commands.Refusal) {
	s.metrics.scopeRefused.WithLabelValues(r.Reason).Inc()
	p := principalOf(c)
	s.log.Warn("refused by scope",
		"request_id", requestID(c),
		"token", p.Name,
		"role", p.Role.String(),
		"scope", r.Scope.String(),
		"reason", r.Reason,
		"dags", r.DAGs,
	)
}

// refusedByAirflow writes the audit line of a command refused for a credential that acts as an Airflow
// user (§20), naming the user and what Airflow's auth manager refused, and counts it by reason: the
// resource of the refused check, or why no check could allow it.
func (s *Server) refusedByAirflow(c echo.Context, r *commands.AirflowRefusal) {
	s.metrics.airflowRefused.WithLabelValues(r.Resource).Inc()
	p := principalOf(c)
	s.log.Warn("refused by Airflow",
		"request_id", requestID(c),
		"token", p.Name,
		"role", p.Role.String(),
		"airflow_user", r.User,
		"command", r.Command,
		"reason", r.Resource,
		"method", r.Method,
		"id", r.ID,
	)
}

// auditDeploy writes the audit line of a deploy_dag that wrote its file.
func (s *Server) auditDeploy(c echo.Context, d *commands.Deployment) {
	recordOf(c).command = "deploy_dag"
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
