package gateway

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// commandResponse is the command dialect's answer when a command ran to its end.
type commandResponse struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	AirflowCmd string `json:"airflow_cmd"`
	DurationMS int64  `json:"duration_ms"`
	Truncated  bool   `json:"truncated"`
	Data       any    `json:"data,omitempty"`
}

// handleCommand runs one command of the command dialect: GET|POST /api/v1/command.
func (s *Server) handleCommand(c echo.Context) error {
	cmd, err := readCommand(c)
	if err != nil {
		return writeProblem(c, err, nil)
	}
	inv, res, err := s.runCommand(c, cmd)
	if err != nil {
		return writeProblem(c, err, res)
	}
	if res.Canceled {
		return nil // the client went away: nobody to answer
	}
	out := commandResponse{
		Stdout:     res.Stdout,
		Stderr:     res.Stderr,
		ExitCode:   res.ExitCode,
		AirflowCmd: inv.String(),
		DurationMS: res.Duration.Milliseconds(),
		Truncated:  res.Truncated,
	}
	if v, _ := inv.Value("output"); v == "json" && !res.Truncated {
		out.Data = commands.ParseJSONOutput(res.Stdout)
	}
	c.Response().Header().Set("X-Airflow-Exit-Code", strconv.Itoa(res.ExitCode))
	return writeJSON(c, http.StatusOK, out)
}

// commandRequest is the command a request names: a line, split into words as a shell would, or the
// exact words of {"argv": [...]}, which nothing splits.
type commandRequest struct {
	line string
	argv []string
}

// resolve checks the command for role.
func (cmd commandRequest) resolve(svc *commands.Service, role commands.Role) (*commands.Invocation, error) {
	if cmd.argv != nil {
		return svc.ResolveArgv(cmd.argv, role)
	}
	return svc.ResolveLine(cmd.line, role)
}

// runCommand resolves a command for the caller and runs it, as the command and the MWAA dialects do. A
// command stopped because the gateway shuts down is an error (answered 503 with its output); one stopped
// because the client went away comes back with res.Canceled set, for nobody to answer.
func (s *Server) runCommand(c echo.Context, cmd commandRequest) (*commands.Invocation, *commands.Result, error) {
	inv, err := cmd.resolve(s.svc, principalOf(c).Role)
	if err != nil {
		return nil, nil, err
	}
	if crossSiteGET(c) && inv.Rule.Class != commands.ClassRead {
		return inv, nil, crossSiteGETError
	}
	res, err := s.svc.Run(c.Request().Context(), inv)
	s.noteRun(c, inv, res, err)
	if err == nil && res.Canceled && stoppedByShutdown(c) {
		err = shutdownError
	}
	return inv, res, err
}

// readCommand reads the command from the query string, a form field, or a JSON body {"command": "..."}
// or {"argv": [...]}.
func readCommand(c echo.Context) (commandRequest, error) {
	line, argv, err := commandLine(c)
	return commandRequest{line: line, argv: argv}, err
}

// commandLine reads the command line from the query string, a form field or a JSON body, or the exact
// words of a JSON body's argv.
func commandLine(c echo.Context) (string, []string, error) {
	r := c.Request()
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", nil, commands.Errorf(commands.EINVALID, "the query string cannot be read (%v); percent-encode `;` as %%3B and `&` inside values as %%26", err)
	}
	if q := query["command"]; len(q) > 0 {
		if len(q) > 1 {
			return "", nil, commands.Errorf(commands.EINVALID, "`command` is given %d times; send one command per request", len(q))
		}
		return q[0], nil, nil
	}
	if r.Method != http.MethodPost {
		return "", nil, commands.Errorf(commands.EINVALID, "no command given: add ?command=... (for example ?command=dags%%20list)")
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch ctype {
	case echo.MIMEApplicationJSON:
		var body struct {
			Command *string   `json:"command"`
			Argv    *[]string `json:"argv"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return "", nil, bodyError(err, "the JSON body cannot be read (%v); send {\"command\": \"dags list\"} or {\"argv\": [\"dags\", \"list\"]}")
		}
		switch {
		case body.Command != nil && body.Argv != nil:
			return "", nil, commands.Errorf(commands.EINVALID, "the JSON body has both \"command\" and \"argv\"; send one: a line to split, or the exact words")
		case body.Argv != nil:
			return "", *body.Argv, nil
		case body.Command == nil:
			return "", nil, commands.Errorf(commands.EINVALID, "the JSON body has no \"command\"; send {\"command\": \"dags list\"} or {\"argv\": [\"dags\", \"list\"]}")
		}
		return *body.Command, nil, nil
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		form, err := c.FormParams()
		if err != nil {
			return "", nil, bodyError(err, "the form cannot be read (%v); send command=... as a form field")
		}
		if v := form["command"]; len(v) == 1 {
			return v[0], nil, nil
		} else if len(v) > 1 {
			return "", nil, commands.Errorf(commands.EINVALID, "`command` is given %d times; send one command per request", len(v))
		}
		return "", nil, commands.Errorf(commands.EINVALID, "the form has no `command` field")
	case "":
		return "", nil, commands.Errorf(commands.EINVALID, "no command given: add ?command=..., a form field `command`, or a JSON body {\"command\": \"...\"}")
	}
	return "", nil, commands.Errorf(commands.EINVALID, "content type %q is not accepted; send application/json, a form, or ?command=...", strings.TrimSpace(ctype))
}

// handleCommands lists the commands the caller's role may run: GET /api/v1/commands.
func (s *Server) handleCommands(c echo.Context) error {
	return writeJSON(c, http.StatusOK, s.svc.Allowed(principalOf(c).Role))
}

// bodyError explains why a request body could not be read: too slow to arrive, over the size limit (the
// body-limit middleware stops reading there), or malformed, described by format with the error.
func bodyError(err error, format string) error {
	if slow, ok := isBodyTimeout(err); ok {
		return slow
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		return &commands.Error{Code: commands.ETOOLARGE, Message: tooLargeMessage}
	}
	return commands.Errorf(commands.EINVALID, format, err)
}
