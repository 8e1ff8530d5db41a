package gateway

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
	"github.com/airflow-gateway/airflow-gateway/gateway/restscope"
	"github.com/airflow-gateway/airflow-gateway/gateway/restv1"
)

// Airflow's REST API behind the gateway's login (SPEC §17): /api/v1/* (but the gateway's own endpoints)
// and /api/v2/* are forwarded to Airflow's webserver (2.x) or API server (3.x) by the standard library's
// reverse proxy, configured once here. A gateway credential acts as its role's Airflow user, or as the
// Airflow user it names (airflow_user, SPEC §20); HTTP Basic with an Airflow user's own name and password
// acts as that user (auth.go). On Airflow 3 a v1 call is
// translated on its way (restv1), and so is its answer.

// rest is the shape of Airflow's REST API for the gateway's own refusals: Airflow 2's problem documents on
// /api/v1, Airflow 3's {"detail": ...} on /api/v2. Airflow's own answers pass as Airflow wrote them.
type rest struct{}

func (rest) name() string { return "rest" }

func (rest) writeError(c echo.Context, status int, err *commands.Error, _ *commands.Result) error {
	if strings.HasPrefix(recordOf(c).path, "/api/v2/") { // the API the client called, whatever it became
		return writeJSON(c, status, map[string]string{"detail": err.Message})
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	return encodeJSON(c, restv1.NewProblem(status, err.Message))
}

// ownAPI lists the gateway's own endpoints under /api/v1, which are never Airflow's.
var ownAPI = []string{"/api/v1/command", "/api/v1/commands", "/api/v1/jobs", "/api/v1/tokens", "/api/v1/openapi.json"}

// isREST reports whether a path is Airflow's REST API rather than one of the gateway's own endpoints.
func isREST(p string) bool {
	if strings.HasPrefix(p, "/api/v2/") || p == "/api/v2" {
		return true
	}
	if !strings.HasPrefix(p, "/api/v1/") {
		return false
	}
	for _, own := range ownAPI {
		if p == own || strings.HasPrefix(p, own+"/") {
			return false
		}
	}
	return true
}

// restCall is one call forwarded to Airflow's REST API: where, as whom, and what came back.
type restCall struct {
	api           *airflowapi.Client
	authorization string
	role          commands.Role // the gateway role acting, or RoleNone for an Airflow user's own credentials
	// person is the Airflow user the credential names (airflow_user), whom the call acts as; "" when it
	// acts as its role's user.
	person string
	// v1 is the translation of an Airflow 2 call for Airflow 3, or nil when the call goes as it is.
	v1 *restv1.Translation
	// listing, for a scoped credential's listing across DAGs, says which rows it is answered with; nil
	// for every other call.
	listing *restscope.Decision
	// sent is when the call went to Airflow; status and took are its answer's status and how long it took
	// to come, for the access log.
	sent   time.Time
	status int
	took   time.Duration
}

// newProxy returns the reverse proxy of the REST routes: the request's record says where and as whom.
func (s *Server) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			call := recordIn(pr.In).rest
			pr.SetURL(call.api.URL)
			pr.Out.Host = call.api.URL.Host
			pr.SetXForwarded()
			stripGatewayCredentials(pr.Out, s.keys.header)
			pr.Out.Header.Set("Authorization", call.authorization)
			call.sent = time.Now()
		},
		Transport: restv1.Retrying(restscope.Scanning(airflowTransport{}, func(r *http.Request) *restscope.Decision { return recordIn(r).rest.listing }),
			func(r *http.Request) *restv1.Translation { return recordIn(r).rest.v1 }),
		ModifyResponse: func(resp *http.Response) error {
			call := recordIn(resp.Request).rest
			call.status, call.took = resp.StatusCode, time.Since(call.sent)
			if resp.StatusCode == http.StatusUnauthorized {
				if err := s.upstreamRefused(resp.Request, call); err != nil {
					return err
				}
			}
			if resp.StatusCode == http.StatusForbidden && call.person != "" && invalidJWT(resp) {
				// Airflow 3 answers a JWT whose signature it does not accept 403, not 401.
				if err := s.upstreamRefused(resp.Request, call); err != nil {
					return err
				}
			}
			if resp.StatusCode == http.StatusInternalServerError && call.person != "" {
				// FAB on Airflow 3 answers 500 to the JWT of a user deleted since it was signed.
				if err := call.api.PersonGone(resp.Request.Context(), call.person); err != nil {
					return err
				}
			}
			if call.v1 == nil {
				return nil
			}
			if err := call.v1.Rewrite(resp); errors.Is(err, restv1.ErrAnswerTooLarge) {
				return &commands.Error{Code: airflowapi.EUPSTREAM, Message: err.Error()}
			} else if err != nil {
				return call.api.Unreachable(err)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var e *commands.Error
			if !errors.As(err, &e) {
				err = recordIn(r).rest.api.Unreachable(err)
			}
			_ = s.fail(s.echo.NewContext(r, w), err, nil)
		},
	}
}

// invalidJWT reports whether Airflow 3's 403 says that it did not accept the call's JWT ("Invalid JWT
// token"), rather than that the user may not do what was asked; the answer's body is left as it was.
func invalidJWT(resp *http.Response) bool {
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	text := head
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") { // Airflow compresses it when asked
		if gz, err := gzip.NewReader(bytes.NewReader(head)); err == nil {
			text, _ = io.ReadAll(io.LimitReader(gz, 4<<10))
		}
	}
	return bytes.Contains(text, []byte("Invalid JWT token"))
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// airflowTransport sends the proxy's requests over the connections of the call's client.
type airflowTransport struct{}

func (airflowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return recordIn(r).rest.api.RoundTrip(r)
}

// upstreamRefused turns Airflow's 401 into what it means: a role's users_file entry refused (502, the
// operator's to fix), the gateway's key or password for the Airflow user a credential names refused (502
// naming the setting; on FAB, a user Airflow no longer knows, 403), or an Airflow user's own credentials
// refused (401, counted as a failed authentication).
func (s *Server) upstreamRefused(r *http.Request, call *restCall) error {
	if call.person != "" {
		return call.api.PersonRefused(r.Context(), call.person)
	}
	if call.role != commands.RoleNone {
		call.api.ForgetRole(call.role)
		return airflowapi.ErrRoleRefused(call.role, "401 from the API")
	}
	s.authFailed(r)
	return nil // Airflow's own 401 goes to the caller whose credentials it refused
}

// handleREST forwards one call of Airflow's REST API: /api/v1/* and /api/v2/*.
func (s *Server) handleREST(c echo.Context) error {
	r := c.Request()
	rec := recordOf(c)
	prefix := r.URL.Path[:len("/api/v1")]
	rec.route = prefix + restv1.Template(r.Method, strings.TrimPrefix(r.URL.Path, prefix))
	if !isREST(r.URL.Path) { // one of the gateway's own endpoints, with a method it does not take
		return s.answerError(c, http.StatusMethodNotAllowed, commands.Errorf(eMethod, "method %s is not allowed on %s", r.Method, r.URL.Path), nil)
	}
	if err := checkRESTPath(r); err != nil {
		return s.fail(c, err, nil)
	}
	var listing *restscope.Decision
	if p := rec.principal; rec.airflowLogin == nil && !p.Scope.IsZero() {
		var err error
		if listing, err = s.withinScope(r, prefix, p.Scope); err != nil {
			return s.fail(c, err, nil)
		}
	}
	api, err := s.airflowClient()
	if err != nil {
		return s.fail(c, err, nil)
	}
	if api.Major < 3 && prefix == "/api/v2" {
		return s.fail(c, commands.Errorf(commands.ENOTFOUND, "/api/v2 exists from Airflow 3; this is Airflow %d: use /api/v1", api.Major), nil)
	}
	call := &restCall{api: api, role: commands.RoleNone}
	if login := rec.airflowLogin; login != nil {
		call.authorization, err = api.CallerAuthorization(r.Context(), login.username, login.password)
		if commands.ErrorCode(err) == commands.EUNAUTHORIZED {
			s.authFailed(r)
		}
	} else {
		p := principalOf(c)
		if p.Role < commands.RoleUser && !restv1.Reads(r.Method, strings.TrimPrefix(r.URL.Path, prefix)) {
			return s.fail(c, commands.Errorf(commands.EFORBIDDEN, "role %s only reads: %s %s changes Airflow; use a token of role User or higher", p.Role, r.Method, r.URL.Path), nil)
		}
		call.role = p.Role
		if p.AirflowUser != "" {
			call.person = p.AirflowUser
			call.authorization, err = api.PersonAuthorization(r.Context(), p.AirflowUser)
		} else {
			call.authorization, err = api.RoleAuthorization(r.Context(), p.Role)
		}
	}
	if err != nil {
		return s.fail(c, err, nil)
	}
	if api.Major >= 3 && prefix == "/api/v1" {
		if call.v1, err = restv1.Rewrite(r, time.Now()); err != nil {
			return s.fail(c, v1Refusal(err), nil)
		}
	}
	call.listing = listing
	rec.rest = call
	s.proxy.ServeHTTP(c.Response(), r)
	return nil
}

// withinScope applies a credential's scope to a REST call (restscope.Decide, against the service's DAG
// index): a refusal, or the call to send, changed in place where the scope names its DAGs; for a listing
// to filter, the decision that the proxy's transport answers it with.
func (s *Server) withinScope(r *http.Request, prefix string, scope commands.Scope) (*restscope.Decision, error) {
	call := &restscope.Call{API: 1, Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, prefix), Query: r.URL.Query()}
	if prefix == "/api/v2" {
		call.API = 2
	}
	if r.Body != nil && r.ContentLength != 0 && r.Method != http.MethodGet && r.Method != http.MethodHead {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyError(err, "the request body cannot be read (%v)")
		}
		call.Body = body
		setBody(r, body)
	}
	index, _ := s.svc.DAGIndex()
	d, err := restscope.Decide(call, scope, index)
	if err != nil {
		return nil, err
	}
	if d.Changed {
		r.URL.RawQuery = d.Call.Query.Encode()
		setBody(r, d.Call.Body)
	}
	if d.Verdict == restscope.Allow {
		return nil, nil
	}
	return d, nil
}

// setBody makes body the body of r.
func setBody(r *http.Request, body []byte) {
	if body == nil {
		return
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// v1Refusal is the domain's error for a v1 call that restv1 does not send on.
func v1Refusal(err error) error {
	var refused *restv1.Error
	if !errors.As(err, &refused) {
		return bodyError(err, "the request body cannot be read (%v)")
	}
	code := map[int]string{http.StatusNotFound: commands.ENOTFOUND, http.StatusMethodNotAllowed: eMethod}[refused.Status]
	if code == "" {
		code = commands.EINVALID
	}
	return &commands.Error{Code: code, Message: refused.Message}
}

// checkRESTPath refuses paths that are not plainly under their API's prefix: dot segments, encoded slashes
// and doubled slashes, which an upstream could read as another path than the gateway checked.
func checkRESTPath(r *http.Request) error {
	raw := r.URL.EscapedPath()
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%2e") || strings.Contains(raw, "\\") {
		return commands.Errorf(commands.EINVALID, "the path %q holds an encoded slash or dot: send the path as it is", commands.Shorten(raw))
	}
	p := r.URL.Path
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p || !(strings.HasPrefix(clean, "/api/v1/") || strings.HasPrefix(clean, "/api/v2/")) {
		return commands.Errorf(commands.EINVALID, "the path %q is not a plain path under /api/v1/ or /api/v2/ (no `.`, `..` or `//` segments)", commands.Shorten(p))
	}
	return nil
}
