package gateway

import (
	"errors"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
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

// callTimeKey holds when the request came in, for call_time.
const callTimeKey = "call_time"

// stampCallTime records when a plugin request came in, before authentication.
func stampCallTime(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(callTimeKey, time.Now())
		return next(c)
	}
}

// newEnvelope starts an answer; req is nil when the arguments are not to be echoed.
func newEnvelope(c echo.Context, req *pluginRequest) *envelope {
	start, _ := c.Get(callTimeKey).(time.Time)
	if start.IsZero() {
		start = time.Now()
	}
	env := &envelope{CallTime: start.UTC().Format(http.TimeFormat), Status: "OK", RequestID: requestID(c)}
	if req != nil {
		all := req.args()
		env.Arguments = commands.MaskArguments(req.query, all)
		env.PostArguments = commands.MaskArguments(req.form, all)
	}
	return env
}

// send writes the envelope with status, stamping response_time.
func (env *envelope) send(c echo.Context, status int) error {
	env.HTTPResponseCode = status
	if status >= 400 {
		env.Status = "ERROR"
	}
	env.ResponseTime = time.Now().UTC().Format(http.TimeFormat)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	return writeJSON(c, status, env)
}

// fail answers err in the envelope; res, when not nil, is the partial output of a stopped command.
func (env *envelope) fail(c echo.Context, err error, res *commands.Result) error {
	env.Output = commands.ErrorMessage(err)
	if commands.ErrorCode(err) == commands.EINTERNAL {
		logInternal(c, err)
	}
	if res != nil {
		env.ran(res)
	}
	return env.send(c, StatusOf(err))
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

// refuseEnvelope answers a refused request with the plugin's envelope.
func refuseEnvelope(c echo.Context, err error) error { return newEnvelope(c, nil).fail(c, err, nil) }

// denyEnvelope answers a plugin call without valid credentials, as the plugin did.
func denyEnvelope(c echo.Context, why denial) error {
	env := newEnvelope(c, nil)
	if why == tooManyMisses {
		env.Output = tooManyMessage
		return env.send(c, http.StatusTooManyRequests)
	}
	env.Output = "Token Authentication Failed"
	return env.send(c, http.StatusForbidden)
}

// handlePluginAPI serves the plugin dialect: GET|POST /admin/rest_api/api?api=NAME&...
func (s *Server) handlePluginAPI(c echo.Context) error {
	req, err := s.readPluginRequest(c)
	if err != nil {
		return newEnvelope(c, req).fail(c, err, nil)
	}
	env := newEnvelope(c, req)
	args := req.args()
	call, err := s.svc.ResolvePlugin(args["api"], args, principalOf(c).Role)
	if err != nil {
		return env.fail(c, err, nil)
	}
	env.warn(call.Warnings)
	if crossSiteGET(c) && (call.Daemon || call.Invocation != nil && call.Invocation.Rule.Class != commands.ClassRead) {
		return env.fail(c, crossSiteGETError, nil)
	}
	ctx := c.Request().Context()
	switch {
	case call.API.Name == "version":
		env.Output = s.info.AirflowVersion
	case call.API.Name == "rest_api_plugin_version":
		env.Output = s.info.GatewayVersion
	case call.API.Name == "deploy_dag":
		return s.deploy(c, env, call, req)
	case call.Daemon:
		res, daemon, cmd, err := s.svc.StartDaemon(ctx, call)
		env.AirflowCmd, env.Daemon = cmd, daemon
		s.noteRun(c, call.Invocation, res, err)
		if err != nil {
			return env.fail(c, err, res)
		}
		return s.answerRun(c, env, res)
	default:
		env.AirflowCmd = call.Invocation.String()
		res, err := s.svc.Run(ctx, call.Invocation)
		s.noteRun(c, call.Invocation, res, err)
		if err != nil {
			return env.fail(c, err, res)
		}
		return s.answerRun(c, env, res)
	}
	return env.send(c, http.StatusOK)
}

// answerRun answers a command that ran: 200 when it exited 0, 500 with its output when it did not.
func (s *Server) answerRun(c echo.Context, env *envelope, res *commands.Result) error {
	if res.Canceled {
		if stoppedByShutdown(c) {
			return env.fail(c, shutdownError, res)
		}
		return nil // the client went away: nobody to answer
	}
	env.ran(res)
	c.Response().Header().Set("X-Airflow-Exit-Code", strconv.Itoa(res.ExitCode))
	if res.ExitCode != 0 {
		return env.send(c, StatusOf(&commands.Error{Code: commands.EFAILED}))
	}
	return env.send(c, http.StatusOK)
}

// deploy serves deploy_dag.
func (s *Server) deploy(c echo.Context, env *envelope, call *commands.PluginCall, req *pluginRequest) error {
	up := commands.Upload{
		Name:    req.fileName,
		Force:   call.On("force"),
		Pause:   call.On("pause"),
		Unpause: call.On("unpause"),
	}
	if req.file == nil && (req.form["dag_file"] != "" || req.query["dag_file"] != "") {
		return env.fail(c, commands.Errorf(commands.EINVALID,
			"dag_file came as text, not as a file: upload it in a multipart form, as curl -F 'dag_file=@/path/to/dag.py' does"), nil)
	}
	if req.file != nil {
		f, err := req.file.Open()
		if err != nil {
			return env.fail(c, err, nil)
		}
		defer f.Close()
		up.Content = f
	}
	d, err := s.svc.Deploy(c.Request().Context(), call, up)
	if err != nil {
		s.metrics.deploys.WithLabelValues("refused").Inc()
		return env.fail(c, err, nil)
	}
	s.auditDeploy(c, d)
	env.AirflowCmd = strings.Join(d.Commands, " && ")
	env.warn(d.Warnings)
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
