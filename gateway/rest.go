package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway/restv1"
)

// Airflow's REST API behind the gateway's login (SPEC §17): /api/v1/* (but the gateway's own endpoints)
// and /api/v2/* are forwarded to Airflow's webserver (2.x) or API server (3.x) by the standard library's
// reverse proxy, configured once. A gateway credential acts as its role's Airflow user; HTTP Basic with
// an Airflow user's own name and password acts as that user.

// rest is the shape of Airflow's REST API for the gateway's own refusals: Airflow 2's problem documents on
// /api/v1, Airflow 3's {"detail": ...} on /api/v2. Airflow's own answers pass as Airflow wrote them.
type rest struct{}

func (rest) name() string { return "rest" }

func (rest) writeResult(echo.Context, *commands.Invocation, *commands.Result) error {
	return errors.New("the REST dialect runs no command")
}

func (rest) writeError(c echo.Context, status int, err *commands.Error, _ *commands.Result) error {
	if strings.HasPrefix(c.Request().URL.Path, "/api/v2/") {
		return writeJSON(c, status, map[string]string{"detail": err.Message})
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	return encodeJSON(c, v1Problem{Detail: err.Message, Status: status, Title: http.StatusText(status), Type: v1ErrorType(status)})
}

// v1Problem is the error document of Airflow 2's REST API.
type v1Problem struct {
	Detail string `json:"detail"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	Type   string `json:"type"`
}

// v1ErrorType is the type Airflow 2.10 gives an error of status.
func v1ErrorType(status int) string {
	kind := map[int]string{400: "BadRequest", 401: "Unauthenticated", 403: "PermissionDenied", 404: "NotFound", 405: "MethodNotAllowed", 409: "AlreadyExists"}[status]
	if kind == "" {
		kind = "Unknown"
	}
	return "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/" + kind
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

// Keys of a REST call in the request's context and Echo's.
type restCallKey struct{}

const (
	basicKey          = "basic_credentials"
	upstreamStatusKey = "upstream_status"
	upstreamTimeKey   = "upstream_ms"
)

// restCall is what the proxy needs to know of one call.
type restCall struct {
	c             echo.Context
	authorization string
	role          commands.Role // the gateway role acting, or RoleNone for an Airflow user's own credentials
	start         time.Time
	// v1 is the translation of an Airflow 2 call for Airflow 3, or nil when the call goes as it is.
	v1 *restv1.Translation
	// v1Text says that a v1 call asked for a task's log as text, which is made from v2's JSON lines.
	v1Text bool
}

// ServeAirflowAPI forwards Airflow's REST API to up. Until it or NoAirflowAPI is called, those routes
// answer 503: the API is being looked for.
func (s *Server) ServeAirflowAPI(up *Upstream) { s.upstream.Store(up) }

// NoAirflowAPI says that no Airflow REST API is configured or found, and why: those routes answer 404
// saying so.
func (s *Server) NoAirflowAPI(why string) {
	s.noUpstream.Store(commands.Errorf(commands.ENOTFOUND,
		"Airflow's REST API is not served by this gateway: %s. Set [airflow_api] url to Airflow's webserver (2.x) or API server (3.x), such as http://127.0.0.1:8081, and [airflow_api] users_file, and restart", why))
}

// newProxy returns the reverse proxy of the REST routes: the call's context says where and as whom.
func (s *Server) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			call := pr.In.Context().Value(restCallKey{}).(*restCall)
			up := s.upstream.Load()
			pr.SetURL(up.URL)
			pr.Out.Host = up.URL.Host
			pr.SetXForwarded()
			stripGatewayCredentials(pr.Out, s.keys.header)
			pr.Out.Header.Set("Authorization", call.authorization)
		},
		Transport: upstreamTransport{s},
		ModifyResponse: func(resp *http.Response) error {
			call := resp.Request.Context().Value(restCallKey{}).(*restCall)
			call.c.Set(upstreamStatusKey, resp.StatusCode)
			call.c.Set(upstreamTimeKey, time.Since(call.start).Milliseconds())
			if resp.StatusCode == http.StatusUnauthorized {
				if err := s.upstreamRefused(call); err != nil {
					return err
				}
			}
			if call.v1 != nil {
				return s.answerV1(call, resp)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			call := r.Context().Value(restCallKey{}).(*restCall)
			var e *commands.Error
			if !errors.As(err, &e) {
				err = s.upstream.Load().unreachable(err)
			}
			_ = s.fail(call.c, err, nil)
		},
	}
}

// upstreamTransport sends the proxy's requests over the current upstream's connections.
type upstreamTransport struct{ s *Server }

func (t upstreamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.s.upstream.Load().transport.RoundTrip(r)
}

// upstreamRefused turns Airflow's 401 into what it means: a role's users_file entry refused (502, the
// operator's to fix), or an Airflow user's own credentials refused (401, counted as a failed
// authentication).
func (s *Server) upstreamRefused(call *restCall) error {
	if call.role != commands.RoleNone {
		s.upstream.Load().forgetRole(call.role)
		return errRoleRefused(call.role, "401 from the API")
	}
	s.misses.record(clientAddress(call.c.Request()))
	s.metrics.authFailures.Inc()
	return nil // Airflow's own 401 goes to the caller whose credentials it refused
}

// stripGatewayCredentials removes what authenticated the caller to the gateway: its token headers and its
// session cookie never reach Airflow.
func stripGatewayCredentials(r *http.Request, pluginHeader string) {
	r.Header.Del("Authorization")
	r.Header.Del(pluginHeader)
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, ck := range cookies {
		if ck.Name != sessionCookie {
			r.AddCookie(ck)
		}
	}
}

// readOnlyPosts are the REST calls that POST a query: a Viewer may send them.
var readOnlyPosts = []string{"/dags/~/dagRuns/list", "/dags/~/dagRuns/~/taskInstances/list"}

// restReadOnly reports whether a REST call only reads.
func restReadOnly(r *http.Request) bool {
	if safeMethod(r.Method) {
		return true
	}
	for _, p := range readOnlyPosts {
		if r.Method == http.MethodPost && (r.URL.Path == "/api/v1"+p || r.URL.Path == "/api/v2"+p) {
			return true
		}
	}
	return false
}

// authenticateREST authenticates as authenticate does, and also takes HTTP Basic with an Airflow user's own
// name and password, which Airflow checks.
func (s *Server) authenticateREST(next echo.HandlerFunc) echo.HandlerFunc {
	checked := s.authenticate(next)
	return func(c echo.Context) error {
		username, password, ok := c.Request().BasicAuth()
		if !ok {
			return checked(c)
		}
		if s.turnedAway(c) {
			s.metrics.rateLimited.Inc()
			return s.fail(c, errTooMany, nil)
		}
		c.Set(basicKey, [2]string{username, password})
		c.Set(principalKey, &Principal{Name: "airflow:" + username, Role: commands.RoleNone})
		return next(c)
	}
}

// handleREST forwards one call of Airflow's REST API: /api/v1/* and /api/v2/*.
func (s *Server) handleREST(c echo.Context) error {
	r := c.Request()
	prefix := r.URL.Path[:len("/api/v1")]
	c.Set(routeKey, prefix+restv1.Template(r.Method, strings.TrimPrefix(r.URL.Path, prefix)))
	if !isREST(r.URL.Path) { // one of the gateway's own endpoints, with a method it does not take
		return s.answerError(c, http.StatusMethodNotAllowed, commands.Errorf(commands.EINVALID, "method %s is not allowed on %s", r.Method, r.URL.Path), nil)
	}
	if err := checkRESTPath(r); err != nil {
		return s.fail(c, err, nil)
	}
	up := s.upstream.Load()
	if up == nil {
		if why := s.noUpstream.Load(); why != nil {
			return s.fail(c, why, nil)
		}
		return s.fail(c, commands.Errorf(commands.EUNAVAILABLE,
			"the gateway is still looking for Airflow's REST API ([airflow_api] url is empty, so Airflow's own configuration is asked); retry in a few seconds"), nil)
	}
	if up.Major < 3 && strings.HasPrefix(r.URL.Path, "/api/v2/") {
		return s.fail(c, commands.Errorf(commands.ENOTFOUND, "/api/v2 exists from Airflow 3; this is Airflow %d: use /api/v1", up.Major), nil)
	}
	call := &restCall{c: c, role: commands.RoleNone, start: time.Now()}
	var err error
	if creds, ok := c.Get(basicKey).([2]string); ok {
		call.authorization, err = up.callerAuthorization(r.Context(), creds[0], creds[1])
		if commands.ErrorCode(err) == commands.EUNAUTHORIZED {
			s.misses.record(clientAddress(r))
			s.metrics.authFailures.Inc()
		}
	} else {
		p := principalOf(c)
		if p.Role < commands.RoleUser && !restReadOnly(r) {
			return s.fail(c, commands.Errorf(commands.EFORBIDDEN, "role %s only reads: %s %s changes Airflow; use a token of role User or higher", p.Role, r.Method, r.URL.Path), nil)
		}
		call.role = p.Role
		call.authorization, err = up.roleAuthorization(r.Context(), p.Role)
	}
	if err != nil {
		return s.fail(c, err, nil)
	}
	if up.Major >= 3 && strings.HasPrefix(r.URL.Path, "/api/v1/") {
		if err := translateV1(call, r); err != nil {
			return s.fail(c, err, nil)
		}
	}
	c.SetRequest(r.WithContext(context.WithValue(r.Context(), restCallKey{}, call)))
	s.proxy.ServeHTTP(c.Response(), c.Request())
	return nil
}

// maxV1Answer bounds an answer of Airflow 3 that is translated for a v1 call: it is read whole.
const maxV1Answer = 64 << 20

// translateV1 rewrites an Airflow 2 call for Airflow 3 (restv1's table), in place.
func translateV1(call *restCall, r *http.Request) error {
	var body []byte
	if r.Body != nil && r.ContentLength != 0 {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return bodyError(err, "the request body cannot be read (%v)")
		}
	}
	in := &restv1.Call{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v1"), Query: r.URL.Query(), Accept: r.Header.Get("Accept"), Body: body}
	tr, err := restv1.Translate(in, time.Now())
	var refused *restv1.Error
	if errors.As(err, &refused) {
		return &commands.Error{Code: v1Codes[refused.Status], Message: refused.Message}
	}
	if err != nil {
		return err
	}
	call.v1 = tr
	if strings.Contains(tr.V2.Path, "/logs/") && strings.HasPrefix(in.Accept, "text/plain") {
		call.v1Text = true
		tr.V2.Accept = "application/x-ndjson"
	}
	setCall(r, tr.V2)
	return nil
}

// v1Codes are the domain's codes of the statuses restv1 answers with.
var v1Codes = map[int]string{400: commands.EINVALID, 404: commands.ENOTFOUND, 405: commands.EMETHOD}

// setCall makes r the v2 call c.
func setCall(r *http.Request, c *restv1.Call) {
	r.Method = c.Method
	r.URL.Path = "/api/v2" + mustUnescape(c.Path)
	r.URL.RawPath = "/api/v2" + c.Path
	r.URL.RawQuery = c.Query.Encode()
	if c.Accept != "" {
		r.Header.Set("Accept", c.Accept)
	}
	r.Body, r.ContentLength = http.NoBody, 0
	r.Header.Del("Content-Length")
	// The answer is read and rewritten: it comes as it is, never compressed (the transport asks for gzip
	// itself, and takes it off).
	r.Header.Del("Accept-Encoding")
	if c.Body != nil {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(c.Body)), int64(len(c.Body))
		r.Header.Set("Content-Type", "application/json")
	}
}

func mustUnescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

// answerV1 turns Airflow 3's answer into what Airflow 2 answered: a retry where v1's endpoint did more
// than v2's (a variable that exists is set), a task's log as text, or the JSON document translated.
func (s *Server) answerV1(call *restCall, resp *http.Response) error {
	tr := call.v1
	if again := tr.Retry(&restv1.Answer{Status: resp.StatusCode}); again != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // v2's refusal, read so that its connection is reused
		resp.Body.Close()
		next, err := s.resend(call, resp.Request, again)
		if err != nil {
			return err
		}
		resp.StatusCode, resp.Status, resp.Header, resp.Body, resp.ContentLength = next.StatusCode, next.Status, next.Header, next.Body, next.ContentLength
	}
	if call.v1Text && resp.StatusCode == http.StatusOK {
		resp.Body = logText(resp.Body)
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
		resp.Header.Set("Content-Type", "text/plain; charset=utf-8")
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxV1Answer+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(data) > maxV1Answer {
		return commands.Errorf(commands.EUPSTREAM, "Airflow's answer is over %d MB, the most the gateway translates for /api/v1: ask for less (limit), or use /api/v2", maxV1Answer>>20)
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	out := tr.Back(&restv1.Answer{Status: resp.StatusCode, ContentType: ctype, Body: data})
	resp.StatusCode, resp.Status = out.Status, fmt.Sprintf("%d %s", out.Status, http.StatusText(out.Status))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(out.Body)), int64(len(out.Body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out.Body)))
	if out.ContentType != "" && len(out.Body) > 0 {
		resp.Header.Set("Content-Type", out.ContentType)
	}
	return nil
}

// resend sends another v2 call for the same caller.
func (s *Server) resend(call *restCall, prev *http.Request, c *restv1.Call) (*http.Response, error) {
	up := s.upstream.Load()
	target := up.URL.String() + "/api/v2" + c.Path // c.Path is escaped already
	if q := c.Query.Encode(); q != "" {
		target += "?" + q
	}
	r, err := http.NewRequestWithContext(prev.Context(), c.Method, target, bytes.NewReader(c.Body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", call.authorization)
	r.Header.Set("Content-Type", "application/json")
	for _, h := range []string{"Accept", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := prev.Header.Get(h); v != "" {
			r.Header.Set(h, v)
		}
	}
	resp, err := up.transport.RoundTrip(r)
	if err != nil {
		return nil, up.unreachable(err)
	}
	return resp, nil
}

// logText turns Airflow 3's log lines (application/x-ndjson, one JSON object a line) into text as it
// reads them, so that a log of any size goes through without being held whole.
func logText(body io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		w := bufio.NewWriter(pw)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				w.Write(sc.Bytes())
			} else {
				w.WriteString(restv1.LogLine(line))
			}
			w.WriteByte('\n')
		}
		w.Flush()
		pw.CloseWithError(sc.Err())
	}()
	return pr
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
