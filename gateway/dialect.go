package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// A dialect is one way clients talk to the gateway, reduced to the shape of its answers: the command
// dialect's problem documents (command.go), the plugin's envelope (plugin.go), MWAA's base64 streams
// (mwaa.go), the pages' redirects (admin.go), Airflow's own error shapes on its REST API (rest.go). A
// dialect's handler reads its request and resolves it through the domain; everything else is done once,
// in this file: the cross-site rule, running the command, a client that goes away, the exit-code header,
// the status of an error, Retry-After and WWW-Authenticate.
//
// Denials (no valid credentials, 401; too many failures, 429) and refusals (another site, a stale CSRF
// token, a body over its limit) are errors like any other, with a code of the domain: every answer that
// is not a command's result goes through writeError, whether a handler, a middleware or Echo's router
// gave it.
type dialect interface {
	// name names the dialect in the access log.
	name() string
	// writeError answers err with status, which the one table gave (errors.go). res, when not nil, is the
	// output of a command that was stopped (time limit, shutdown), to be kept in the answer.
	writeError(c echo.Context, status int, err *commands.Error, res *commands.Result) error
}

// A runner is a dialect whose requests run commands: the command dialect, the plugin's and MWAA's.
type runner interface {
	dialect
	// writeResult answers a command that ran to its end, whatever its exit code. The exit-code header is
	// set.
	writeResult(c echo.Context, inv *commands.Invocation, res *commands.Result) error
}

// The dialects, by the paths they serve.
var (
	commandDialect runner  = problems{dialect: "command"}
	otherDialect   dialect = problems{dialect: "-"} // health, metrics: problem documents too
	pluginDialect  runner  = plugin{}
	mwaaDialect    runner  = mwaa{}
	restDialect    dialect = rest{}
)

// mwaaCLI is the MWAA dialect's endpoint.
const mwaaCLI = "/aws_mwaa/cli"

// dialectOf returns the dialect of a request by its path alone, so that an answer given before any handler
// (a body over its limit, a route that does not exist) has the shape the client reads. withRecord calls it
// once per request; everything else reads the request's record.
func (s *Server) dialectOf(p string) dialect {
	switch {
	case p == pluginAPI:
		return pluginDialect
	case p == mwaaCLI:
		return mwaaDialect
	case isREST(p):
		return restDialect
	case strings.HasPrefix(p, "/api/"):
		return commandDialect
	case strings.HasPrefix(p, "/admin/rest_api"), p == "/login", p == "/logout", strings.HasPrefix(p, "/aws_mwaa/"):
		return s.pages
	}
	return otherDialect
}

// fail answers err in the shape of the request's dialect. Errors that are not the domain's are faults of
// the gateway: logged with the request id, answered without details.
func (s *Server) fail(c echo.Context, err error, res *commands.Result) error {
	var refusal *commands.Refusal
	if errors.As(err, &refusal) {
		s.refusedByScope(c, refusal)
	}
	var byAirflow *commands.AirflowRefusal
	if errors.As(err, &byAirflow) {
		s.refusedByAirflow(c, byAirflow)
	}
	var e *commands.Error
	if !errors.As(err, &e) || e.Code == commands.EINTERNAL {
		logInternal(c, err)
		e = &commands.Error{Code: commands.EINTERNAL, Message: commands.ErrorMessage(err)}
	}
	return s.answerError(c, StatusOf(e), e, res)
}

// answerError answers e with status in the request's dialect, with the headers the status calls for.
func (s *Server) answerError(c echo.Context, status int, e *commands.Error, res *commands.Result) error {
	h := c.Response().Header()
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", retryAfterSeconds)
		}
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="airflow-gateway"`)
	}
	return recordOf(c).dialect.writeError(c, status, e, res)
}

// run is the one way a command runs for a request: inv, resolved for the caller by the dialect's
// handler, is started by start (Service.Run, or a daemon start); readOnly says whether a link from
// another site may run it with a browser's session. The answer is the dialect's: its result, or the
// error with the output so far. A command stopped because its client went away has nobody to answer;
// one stopped by the shutdown is answered 503 with its output.
func (s *Server) run(c echo.Context, inv *commands.Invocation, readOnly bool, start func(context.Context) (*commands.Result, error)) error {
	w, ok := recordOf(c).dialect.(runner)
	if !ok {
		return s.fail(c, fmt.Errorf("%s would run on %s, whose dialect answers no command", inv.Path(), c.Request().URL.Path), nil)
	}
	if err := crossSiteRule(c, readOnly); err != nil {
		return s.fail(c, err, nil)
	}
	res, err := start(c.Request().Context())
	s.noteRun(c, inv, res, err)
	if err == nil && res.Canceled {
		if !stoppedByShutdown(c) {
			return nil // the client went away: nobody to answer
		}
		err = shutdownError
	}
	if err != nil {
		return s.fail(c, err, res)
	}
	c.Response().Header().Set("X-Airflow-Exit-Code", strconv.Itoa(res.ExitCode))
	return w.writeResult(c, inv, res)
}

// ErrShuttingDown is the cause the server's base context is canceled with when the shutdown grace period
// is over: commands stopped for it are answered 503, not dropped as if their client had gone.
var ErrShuttingDown = errors.New("the gateway is shutting down")

// stoppedByShutdown reports whether a canceled command was stopped by the shutdown.
func stoppedByShutdown(c echo.Context) bool {
	return errors.Is(context.Cause(c.Request().Context()), ErrShuttingDown)
}

// shutdownError is the answer to a command stopped by the shutdown.
var shutdownError = commands.Errorf(commands.EUNAVAILABLE, "the gateway is shutting down and stopped the command after its grace period; the output so far is included, retry against a running gateway")
