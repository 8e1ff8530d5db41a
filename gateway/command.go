package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
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

// problems is the command dialect's shape, which the gateway's other JSON endpoints (jobs, tokens,
// health, metrics) share: a command's result as commandResponse, every error as an RFC 7807 problem
// document. dialect names it in the access log.
type problems struct{ dialect string }

func (p problems) name() string { return p.dialect }

func (problems) writeResult(c echo.Context, inv *commands.Invocation, res *commands.Result) error {
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
	return writeJSON(c, http.StatusOK, out)
}

func (problems) writeError(c echo.Context, status int, err *commands.Error, res *commands.Result) error {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: err.Message, RequestID: requestID(c)}
	if res != nil {
		p.Stdout, p.Stderr, p.Truncated = &res.Stdout, &res.Stderr, &res.Truncated
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	return encodeJSON(c, p)
}

// Problem is an RFC 7807 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Output of a command stopped at its time limit.
	Stdout    *string `json:"stdout,omitempty"`
	Stderr    *string `json:"stderr,omitempty"`
	Truncated *bool   `json:"truncated,omitempty"`
	RequestID string  `json:"request_id,omitempty"`
}

// handleCommand runs one command of the command dialect: GET|POST /api/v1/command.
func (s *Server) handleCommand(c echo.Context) error {
	return s.runCommand(c, readCommand)
}

// runCommand reads a command with read, resolves it for the caller and runs it, as the command and the
// MWAA dialects do.
func (s *Server) runCommand(c echo.Context, read func(echo.Context) (commandRequest, error)) error {
	cmd, err := read(c)
	if err != nil {
		return s.fail(c, err, nil)
	}
	inv, err := cmd.resolve(s.svc, principalOf(c).Access())
	if err != nil {
		return s.fail(c, err, nil)
	}
	return s.run(c, inv, inv.ReadOnly(), func(ctx context.Context) (*commands.Result, error) { return s.svc.Run(ctx, inv) })
}

// commandRequest is the command a request names: a line, split into words as a shell would, or the
// exact words of {"argv": [...]}, which nothing splits.
type commandRequest struct {
	line string
	argv []string
}

// resolve checks the command for a credential's role and scope.
func (cmd commandRequest) resolve(svc *commands.Service, who commands.Access) (*commands.Invocation, error) {
	if cmd.argv != nil {
		return svc.ResolveArgv(cmd.argv, who)
	}
	return svc.ResolveLine(cmd.line, who)
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
	return writeJSON(c, http.StatusOK, s.svc.Allowed(principalOf(c).Access()))
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
