package gateway

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/web"
)

// mwaaResponse is the MWAA dialect's answer: both streams in standard base64, as Amazon MWAA sends them,
// plus the exit code, which MWAA lacks and its clients ignore. A refusal or a failure of the gateway keeps
// the shape, with the message as stderr, so that the documented `jq -r .stderr | base64 --decode` shows
// why, and adds the problem document's fields.
type mwaaResponse struct {
	Stdout    string `json:"stdout"`
	Stderr    string `json:"stderr"`
	ExitCode  *int   `json:"exit_code,omitempty"`
	Title     string `json:"title,omitempty"`
	Status    int    `json:"status,omitempty"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func base64Of(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// handleMWAA runs one command of the MWAA dialect: POST /aws_mwaa/cli with the command line as the body.
func (s *Server) handleMWAA(c echo.Context) error {
	return s.runCommand(c, mwaaCommand)
}

// mwaa is the MWAA dialect's shape.
type mwaa struct{}

func (mwaa) name() string { return "mwaa" }

func (mwaa) writeResult(c echo.Context, _ *commands.Invocation, res *commands.Result) error {
	code := res.ExitCode
	return writeJSON(c, http.StatusOK, mwaaResponse{Stdout: base64Of(res.Stdout), Stderr: base64Of(res.Stderr), ExitCode: &code})
}

// writeError keeps the output of a command stopped at its time limit or by a shutdown: its stdout as
// stdout, its stderr before the message.
func (mwaa) writeError(c echo.Context, status int, err *commands.Error, res *commands.Result) error {
	out := mwaaResponse{Stderr: base64Of(err.Message + "\n"), Title: http.StatusText(status), Status: status, Detail: err.Message, RequestID: requestID(c)}
	if res != nil {
		out.Stdout = base64Of(res.Stdout)
		out.Stderr = base64Of(res.Stderr + err.Message + "\n")
	}
	return writeJSON(c, status, out)
}

// mwaaCommand reads the command line: the whole text/plain body, as MWAA takes it, or a JSON body
// {"command": "..."}.
func mwaaCommand(c echo.Context) (commandRequest, error) {
	line, err := mwaaLine(c)
	return commandRequest{line: line}, err
}

func mwaaLine(c echo.Context) (string, error) {
	r := c.Request()
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch ctype {
	case echo.MIMETextPlain:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return "", bodyError(err, "the body cannot be read (%v); send the command as a text/plain body, such as `dags list`")
		}
		// A trailing newline, as `echo dags list | curl --data-binary @-` sends it, is not part of the command.
		return strings.TrimRight(string(body), "\r\n"), nil
	case echo.MIMEApplicationJSON:
		var body struct {
			Command *string `json:"command"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return "", bodyError(err, "the JSON body cannot be read (%v); send {\"command\": \"dags list\"}, or the command as a text/plain body")
		}
		if body.Command == nil {
			return "", commands.Errorf(commands.EINVALID, "the JSON body has no \"command\"; send {\"command\": \"dags list\"}, or the command as a text/plain body")
		}
		return *body.Command, nil
	case "", echo.MIMEApplicationForm:
		return "", commands.Errorf(commands.EINVALID, "the command must be the body, sent with `Content-Type: text/plain` (curl: -H 'Content-Type: text/plain' --data-raw 'dags list'); curl's default form encoding would change it")
	}
	return "", commands.Errorf(commands.EINVALID, "content type %q is not accepted; send the command as a text/plain body, or JSON {\"command\": \"...\"}", strings.TrimSpace(ctype))
}

// handleConsoleSSO serves the page MWAA's console link opens, /aws_mwaa/aws-console-sso?login=true#TOKEN:
// its script posts the token from the URL's fragment, which never reaches a server or its log, to
// /aws_mwaa/login.
func (s *Server) handleConsoleSSO(c echo.Context) error {
	pageHeaders(c)
	loginHeaders(c)
	c.Response().WriteHeader(http.StatusOK)
	return web.RenderSSO(c.Response())
}
