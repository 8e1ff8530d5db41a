package gateway_test

import (
	"bytes"
	"context"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/web"
)

// loadOpenAPI parses and validates the document the gateway serves, once for the whole package.
var loadOpenAPI = sync.OnceValues(func() (*openapi3.T, error) {
	raw, err := gateway.OpenAPI("rest_api_plugin_http_token")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatalf("the OpenAPI document does not validate: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("the document is OpenAPI %s, not 3.1", doc.OpenAPI)
	}
	for _, name := range []string{"bearerToken", "pluginToken", "session"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %s is missing", name)
		}
	}
	ops := 0
	for _, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops++
			for status, resp := range op.Responses.Map() {
				if status[0] != '4' && status[0] != '5' || resp.Value.Content == nil {
					continue
				}
				for ctype, media := range resp.Value.Content {
					if ctype == "application/problem+json" && media.Schema.Ref != "#/components/schemas/Problem" {
						t.Errorf("%s %s answers %s with a problem document that is not the Problem schema", method, op.OperationID, status)
					}
				}
			}
		}
	}
	t.Logf("%d paths, %d operations", doc.Paths.Len(), ops)
}

// TestOpenAPINamesEveryRoute compares the document's operations with the routes the server registers.
func TestOpenAPINamesEveryRoute(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	_, gw := mustGateway(t, &scriptedExecutor{}, commands.Options{})
	served := gateway.Routes(gw)
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("the document and the routes differ:\ndocumented %q\nserved     %q", documented, served)
	}
}

// TestOpenAPIPluginArguments checks the plugin dialect's parameters against the API table the server uses.
func TestOpenAPIPluginArguments(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	item := doc.Paths.Value("/admin/rest_api/api")
	want := map[string]bool{"api": true}
	var names []any
	for _, api := range commands.PluginAPIs() {
		names = append(names, api.Name)
		for _, a := range api.Args {
			if a.Type != commands.ArgFile {
				want[a.Name] = true
			}
		}
	}
	got := map[string]bool{}
	for _, p := range item.Parameters {
		got[p.Value.Name] = true
		if p.Value.Name == "api" && !slices.Equal(p.Value.Schema.Value.Enum, names) {
			t.Errorf("the api parameter lists %v, the table %v", p.Value.Schema.Value.Enum, names)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("plugin argument %s is not documented", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("parameter %s is documented but no plugin API takes it", name)
		}
	}
	form := item.Post.RequestBody.Value.Content["multipart/form-data"].Schema.Value
	if form.Properties["dag_file"] == nil {
		t.Error("the multipart form has no dag_file")
	}
}

// TestOpenAPIStaticFiles checks the admin page's files the document names against those embedded.
func TestOpenAPIStaticFiles(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var documented, embedded []string
	for _, v := range doc.Paths.Value("/admin/rest_api/static/{file}").Get.Parameters[0].Value.Schema.Value.Enum {
		documented = append(documented, v.(string))
	}
	entries, err := fs.ReadDir(web.Static(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		embedded = append(embedded, e.Name())
	}
	if !slices.Equal(documented, embedded) {
		t.Errorf("the document names the static files %q, the binary embeds %q", documented, embedded)
	}
}

// TestOpenAPIServed fetches the document from a server whose plugin token header is renamed.
func TestOpenAPIServed(t *testing.T) {
	creds := gateway.NewKeyring("x-airflow-token")
	srv := mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(creds))
	a := client(srv).As("").Get(t, "/api/v1/openapi.json")
	doc, err := openapi3.NewLoader().LoadFromData(a.Body)
	if err != nil || a.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json without a token: %d, %v", a.Status, err)
	}
	if name := doc.Components.SecuritySchemes["pluginToken"].Value.Name; name != "x-airflow-token" {
		t.Errorf("the served document names the plugin header %q", name)
	}
}

// conformance wraps the gateway of an HTTP test: every answer to a request for an operation of the
// document is validated against it, and a mismatch fails the test that sent the request.
type conformance struct {
	tb      testing.TB
	next    http.Handler
	checked *atomic.Int64
}

// checkedAnswers counts the answers validated in this package's run.
var checkedAnswers atomic.Int64

func conformant(tb testing.TB, next http.Handler) http.Handler {
	return &conformance{tb: tb, next: next, checked: &checkedAnswers}
}

func (v *conformance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	v.next.ServeHTTP(rec, r)
	if err := v.check(r, rec); err != nil {
		v.tb.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %v\nbody: %.400s", r.Method, r.URL, rec.status(), err, rec.body.Bytes())
	}
}

func (v *conformance) check(r *http.Request, rec *recorder) error {
	router, err := openAPIRouter()
	if err != nil {
		return err
	}
	lookup := r
	if gateway.IsREST(r.URL.Path) {
		// Airflow's REST API is one operation per prefix, whose {path} holds the rest of the path.
		lookup = r.Clone(r.Context())
		lookup.URL.Path, lookup.URL.RawPath = r.URL.Path[:len("/api/v1/")]+"airflow", ""
	}
	route, params, err := router.FindRoute(lookup)
	if err != nil {
		// A path or method the document does not name: Echo's own 404 or 405, or a refusal of a
		// request too odd to be routed; any other answer is an undocumented endpoint.
		if rec.status() >= 400 && rec.status() < 500 {
			return nil
		}
		return err
	}
	v.checked.Add(1)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 rec.status(),
		Header:                 rec.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if ctype, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); ctype == "text/event-stream" || rec.overflow {
		in.Options.ExcludeResponseBody = true
	}
	in.SetBodyBytes(rec.body.Bytes())
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// recorder passes an answer on and keeps its status and the start of its body.
type recorder struct {
	http.ResponseWriter
	code     int
	body     bytes.Buffer
	overflow bool
}

const recordedBody = 8 << 20

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if r.body.Len()+len(p) <= recordedBody {
		r.body.Write(p)
	} else {
		r.overflow = true
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// TestOpenAPIConformanceSawAnswers shows that the conformance check validates the answers of a test
// server; the package's other tests fail on any answer that does not match the document.
func TestOpenAPIConformanceSawAnswers(t *testing.T) {
	srv := mustServer(t, &scriptedExecutor{result: commands.Result{Stdout: "[]"}}, commands.Options{})
	before := checkedAnswers.Load()
	for _, path := range []string{"/health/live", "/api/v1/command?command=dags%20list", "/api/v1/jobs", "/api/v1/commands"} {
		client(srv).Get(t, path).Decode(t, new(any))
	}
	// The check runs once the handler has returned, which may be after the client has its answer.
	for i := 0; i < 200 && checkedAnswers.Load()-before < 4; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := checkedAnswers.Load() - before; n < 4 {
		t.Errorf("the conformance check validated %d of 4 answers", n)
	}
}

// TestConformanceCatchesMismatches shows that the check fails answers the document does not allow.
func TestConformanceCatchesMismatches(t *testing.T) {
	v := &conformance{tb: t, checked: &atomic.Int64{}}
	// Requests made in-process, never sent: the check reads them as the server would have.
	for _, c := range []struct {
		name, path, ctype, body string
		status                  int
	}{
		{"a field of the wrong type", "/api/v1/command?command=version", "application/json", `{"stdout":1,"stderr":"","exit_code":0,"airflow_cmd":"","duration_ms":1,"truncated":false}`, 200},
		{"a required field missing", "/api/v1/command?command=version", "application/json", `{"stdout":"","stderr":""}`, 200},
		{"an undocumented status", "/api/v1/commands", "application/json", `{}`, http.StatusTeapot},
		{"a problem as plain JSON", "/api/v1/jobs", "application/json", `{"type":"about:blank","title":"x","status":400,"detail":"x"}`, 400},
		{"an envelope without status", "/admin/rest_api/api?api=version", "application/json", `{"call_time":"","response_time":"","output":"","http_response_code":200,"request_id":""}`, 200},
		{"an undocumented endpoint answering 200", "/secret", "application/json", `{}`, 200},
	} {
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		rec := &recorder{ResponseWriter: httptest.NewRecorder()}
		rec.Header().Set("Content-Type", c.ctype)
		rec.WriteHeader(c.status)
		rec.Write([]byte(c.body))
		if err := v.check(r, rec); err == nil {
			t.Errorf("%s passed the check", c.name)
		}
	}
}
