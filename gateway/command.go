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
	line, err := commandLine(c)
	if err != nil {
		return writeProblem(c, err, nil)
	}
	inv, res, err := s.runLine(c, line)
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

// runLine resolves a command line for the caller and runs it, as the command and the MWAA dialects do.
// A command stopped because the gateway shuts down is an error (answered 503 with its output); one
// stopped because the client went away comes back with res.Canceled set, for nobody to answer.
func (s *Server) runLine(c echo.Context, line string) (*commands.Invocation, *commands.Result, error) {
	inv, err := s.svc.ResolveLine(line, principalOf(c).Role)
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

// commandLine reads the command from the query string, a form field or a JSON body {"command": "..."}.
func commandLine(c echo.Context) (string, error) {
	r := c.Request()
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", commands.Errorf(commands.EINVALID, "the query string cannot be read (%v); percent-encode `;` as %%3B and `&` inside values as %%26", err)
	}
	if q := query["command"]; len(q) > 0 {
		if len(q) > 1 {
			return "", commands.Errorf(commands.EINVALID, "`command` is given %d times; send one command per request", len(q))
		}
		return q[0], nil
	}
	if r.Method != http.MethodPost {
		return "", commands.Errorf(commands.EINVALID, "no command given: add ?command=... (for example ?command=dags%%20list)")
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch ctype {
	case echo.MIMEApplicationJSON:
		var body struct {
			Command *string `json:"command"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return "", bodyError(err, "the JSON body cannot be read (%v); send {\"command\": \"dags list\"}")
		}
		if body.Command == nil {
			return "", commands.Errorf(commands.EINVALID, "the JSON body has no \"command\"; send {\"command\": \"dags list\"}")
		}
		return *body.Command, nil
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		form, err := c.FormParams()
		if err != nil {
			return "", bodyError(err, "the form cannot be read (%v); send command=... as a form field")
		}
		if v := form["command"]; len(v) == 1 {
			return v[0], nil
		} else if len(v) > 1 {
			return "", commands.Errorf(commands.EINVALID, "`command` is given %d times; send one command per request", len(v))
		}
		return "", commands.Errorf(commands.EINVALID, "the form has no `command` field")
	case "":
		return "", commands.Errorf(commands.EINVALID, "no command given: add ?command=..., a form field `command`, or a JSON body {\"command\": \"...\"}")
	}
	return "", commands.Errorf(commands.EINVALID, "content type %q is not accepted; send application/json, a form, or ?command=...", strings.TrimSpace(ctype))
}

// handleCommands lists the commands the caller's role may run: GET /api/v1/commands.
func (s *Server) handleCommands(c echo.Context) error {
	return writeJSON(c, http.StatusOK, s.svc.Allowed(principalOf(c).Role))
}

// bodyError explains why a request body could not be read: over the size limit (the body-limit middleware
// stops reading there), or malformed, described by format with the error.
func bodyError(err error, format string) error {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		return &commands.Error{Code: commands.ETOOLARGE, Message: tooLargeMessage}
	}
	return commands.Errorf(commands.EINVALID, format, err)
}
