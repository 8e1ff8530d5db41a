package gateway

import (
	"context"
	"errors"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// envelope is the plugin dialect's answer, field for field the plugin's, plus the extensions exit_code,
// duration_ms, truncated, daemon and request_id.
type envelope struct {
	AirflowCmd       string           `json:"airflow_cmd,omitempty"`
	Arguments        any              `json:"arguments,omitempty"`      // map[string]string; absent on 403 token failures
	PostArguments    any              `json:"post_arguments,omitempty"` // likewise
	CallTime         string           `json:"call_time"`
	ResponseTime     string           `json:"response_time"`
	Output           any              `json:"output"` // cliOutput when a command ran, else a string
	Status           string           `json:"status"`
	HTTPResponseCode int              `json:"http_response_code"`
	Warning          string           `json:"warning,omitempty"`
	ExitCode         *int             `json:"exit_code,omitempty"`
	DurationMS       *int64           `json:"duration_ms,omitempty"`
	Truncated        *bool            `json:"truncated,omitempty"`
	Daemon           *commands.Daemon `json:"daemon,omitempty"`
	RequestID        string           `json:"request_id"`
}

// cliOutput is the plugin's output object of a command that ran.
type cliOutput struct {
	Stderr string `json:"stderr"`
	Stdin  string `json:"stdin"`
	Stdout string `json:"stdout"`
}

// pluginRequest is what a plugin call sent: the query string and the form, first value per key.
type pluginRequest struct {
	query, form map[string]string
	file        *multipart.FileHeader
	fileName    string // the name as the client sent it, before any cleaning
}

// args merges the form and the query string; the query string wins.
func (p *pluginRequest) args() map[string]string {
	all := make(map[string]string, len(p.query)+len(p.form))
	for k, v := range p.form {
		all[k] = v
	}
	for k, v := range p.query {
		all[k] = v
	}
	return all
}

// plugin is the plugin dialect's shape: the plugin's envelope.
type plugin struct{}

func (plugin) name() string { return "plugin" }

// writeResult answers a command that ran: 200 when it exited 0, 500 with its output when it did not.
func (plugin) writeResult(c echo.Context, inv *commands.Invocation, res *commands.Result) error {
	env := newEnvelope(c)
	if env.AirflowCmd == "" {
		env.AirflowCmd = inv.String()
	}
	env.ran(res)
	if res.ExitCode != 0 {
		return env.send(c, StatusOf(&commands.Error{Code: commands.EFAILED}))
	}
	return env.send(c, http.StatusOK)
}

// writeError answers err in the envelope, with the output of a stopped command when there is one. A
// request without valid credentials gets the plugin's own answer: 403 "Token Authentication Failed",
// without the arguments.
func (plugin) writeError(c echo.Context, status int, err *commands.Error, res *commands.Result) error {
	env := newEnvelope(c)
	if err.Code == commands.EUNAUTHORIZED {
		c.Response().Header().Del("WWW-Authenticate")
		env.Output = "Token Authentication Failed"
		return env.send(c, http.StatusForbidden)
	}
	env.Output = err.Message
	if res != nil {
		env.ran(res)
	}
	return env.send(c, status)
}

// pluginState is what the envelope of a plugin call echoes besides its result: the arguments, the
// warnings, and the command a daemon start or a deploy ran.
type pluginState struct {
	req        *pluginRequest
	warnings   []string
	airflowCmd string
	daemon     *commands.Daemon
}

// newEnvelope starts the answer to the request, with what its handler has learnt of it.
func newEnvelope(c echo.Context) *envelope {
	rec := recordOf(c)
	env := &envelope{CallTime: rec.start.UTC().Format(http.TimeFormat), Status: "OK", RequestID: requestID(c)}
	st := rec.plugin
	if st == nil {
		return env // turned away before the handler: the arguments are not echoed
	}
	if st.req != nil {
		all := st.req.args()
		env.Arguments = commands.MaskArguments(st.req.query, all)
		env.PostArguments = commands.MaskArguments(st.req.form, all)
	}
	env.AirflowCmd, env.Daemon = st.airflowCmd, st.daemon
	env.warn(st.warnings)
	return env
}

// send writes the envelope with status, stamping response_time.
func (env *envelope) send(c echo.Context, status int) error {
	env.HTTPResponseCode = status
	if status >= 400 {
		env.Status = "ERROR"
	}
	env.ResponseTime = time.Now().UTC().Format(http.TimeFormat)
	return writeJSON(c, status, env)
}

// ran puts a command's result in the envelope.
func (env *envelope) ran(res *commands.Result) {
	env.Output = cliOutput{Stderr: res.Stderr, Stdout: res.Stdout}
	exit, ms, truncated := res.ExitCode, res.Duration.Milliseconds(), res.Truncated
	env.ExitCode, env.DurationMS, env.Truncated = &exit, &ms, &truncated
}

// warn adds warnings to the envelope's warning.
func (env *envelope) warn(warnings []string) {
	if len(warnings) == 0 {
		return
	}
	if env.Warning != "" {
		env.Warning += "; "
	}
	env.Warning += strings.Join(warnings, "; ")
}

// handlePluginAPI serves the plugin dialect: GET|POST /admin/rest_api/api?api=NAME&...
func (s *Server) handlePluginAPI(c echo.Context) error {
	st := &pluginState{}
	recordOf(c).plugin = st
	req, err := s.readPluginRequest(c)
	st.req = req
	if err != nil {
		return s.fail(c, err, nil)
	}
	args := req.args()
	call, err := s.svc.ResolvePlugin(args["api"], args, principalOf(c).Access())
	if err != nil {
		return s.fail(c, err, nil)
	}
	st.warnings = call.Warnings
	switch call.Action {
	case commands.PluginAnswer:
		env := newEnvelope(c)
		env.Output = s.pluginAnswer(call.Answer)
		return env.send(c, http.StatusOK)
	case commands.PluginDeploy:
		if err := crossSiteRule(c, call.ReadOnly()); err != nil {
			return s.fail(c, err, nil)
		}
		return s.deploy(c, st, call, req)
	case commands.PluginDaemon:
		return s.run(c, call.Invocation, call.ReadOnly(), func(ctx context.Context) (*commands.Result, error) {
			res, daemon, cmd, err := s.svc.StartDaemon(ctx, call)
			st.airflowCmd, st.daemon = cmd, daemon
			return res, err
		})
	}
	return s.run(c, call.Invocation, call.ReadOnly(), func(ctx context.Context) (*commands.Result, error) {
		st.airflowCmd = call.Invocation.String()
		return s.svc.Run(ctx, call.Invocation)
	})
}

// pluginAnswer is what the gateway answers for an API that runs nothing.
func (s *Server) pluginAnswer(what string) string {
	if what == commands.AnswerGatewayVersion {
		return s.info.GatewayVersion
	}
	return s.info.AirflowVersion
}

// deploy serves deploy_dag.
func (s *Server) deploy(c echo.Context, st *pluginState, call *commands.PluginCall, req *pluginRequest) error {
	up := commands.Upload{
		Name:    req.fileName,
		Force:   call.On("force"),
		Pause:   call.On("pause"),
		Unpause: call.On("unpause"),
	}
	if req.file == nil && (req.form["dag_file"] != "" || req.query["dag_file"] != "") {
		return s.fail(c, commands.Errorf(commands.EINVALID,
			"dag_file came as text, not as a file: upload it in a multipart form, as curl -F 'dag_file=@/path/to/dag.py' does"), nil)
	}
	if req.file != nil {
		f, err := req.file.Open()
		if err != nil {
			return s.fail(c, err, nil)
		}
		defer f.Close()
		up.Content = f
	}
	d, err := s.svc.Deploy(c.Request().Context(), call, up)
	if err != nil {
		s.metrics.deploys.WithLabelValues("refused").Inc()
		return s.fail(c, err, nil)
	}
	s.auditDeploy(c, d)
	st.airflowCmd = strings.Join(d.Commands, " && ")
	st.warnings = append(st.warnings, d.Warnings...)
	env := newEnvelope(c)
	env.Output = d.Output
	return env.send(c, http.StatusOK)
}

// pluginFormMemory is how much of a multipart form is kept in memory; the rest of an upload is spooled
// to a temporary file.
const pluginFormMemory = 1 << 20

// readPluginRequest reads the query string and, for POST, the urlencoded or multipart form. The body is
// limited to max_upload_bytes plus room for the other fields. The returned request is never nil.
func (s *Server) readPluginRequest(c echo.Context) (*pluginRequest, error) {
	r := c.Request()
	req := &pluginRequest{query: map[string]string{}, form: map[string]string{}}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return req, commands.Errorf(commands.EINVALID, "the query string cannot be read (%v); percent-encode `;` as %%3B and `&` inside values as %%26", err)
	}
	req.query = firstValues(query)
	if r.Method != http.MethodPost || r.ContentLength == 0 {
		return req, nil
	}
	limit := s.svc.MaxUploadBytes() + pluginFormMemory
	tooLarge := commands.Errorf(commands.ETOOLARGE, "the request body is over %d bytes: a DAG file may be at most %d bytes (max_upload_bytes)", limit, s.svc.MaxUploadBytes())
	if r.ContentLength > limit {
		return req, tooLarge
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
	ctype, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch ctype {
	case echo.MIMEApplicationForm:
		if err := r.ParseForm(); err != nil {
			return req, formError(err, tooLarge)
		}
		req.form = firstValues(r.PostForm)
	case echo.MIMEMultipartForm:
		if err := r.ParseMultipartForm(pluginFormMemory); err != nil {
			return req, formError(err, tooLarge)
		}
		req.form = firstValues(r.MultipartForm.Value)
		if files := r.MultipartForm.File["dag_file"]; len(files) > 0 {
			req.file = files[0]
			_, params, _ := mime.ParseMediaType(files[0].Header.Get("Content-Disposition"))
			req.fileName = params["filename"]
		}
	default:
		return req, commands.Errorf(commands.EINVALID, "content type %q is not accepted: send the arguments in the query string, an urlencoded form, or multipart/form-data", ctype)
	}
	return req, nil
}

// formError explains why a form could not be read.
func formError(err error, tooLarge error) error {
	if slow, ok := isBodyTimeout(err); ok {
		return slow
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	return commands.Errorf(commands.EINVALID, "the form cannot be read (%v); send an urlencoded or multipart form", err)
}

func firstValues(v url.Values) map[string]string {
	out := make(map[string]string, len(v))
	for k, vals := range v {
		if len(vals) > 0 {
			out[k] = vals[0]
		}
	}
	return out
}
