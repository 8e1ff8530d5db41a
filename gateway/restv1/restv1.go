// Package restv1 translates calls of Airflow 2's stable REST API (/api/v1) into calls of Airflow 3's
// (/api/v2), and their answers back, so that a script written for Airflow 2.10 runs unchanged on Airflow 3
// (SPEC §17). It is a table (table.go), one entry per v1 endpoint, made of pure functions from a call to a
// call and from an answer to an answer: it sends nothing itself. The gateway's proxy forwards what it
// gives.
package restv1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Call is a REST call: the path is under the API's prefix, such as /dags/x/dagRuns (no /api/v1).
type Call struct {
	Method string
	Path   string
	Query  url.Values
	Accept string
	Body   []byte // nil when the call has none
}

// Answer is the answer to a call.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Endpoint is one entry of the table: a v1 endpoint, and what it becomes on v2.
type Endpoint struct {
	Method, Path string // the v1 endpoint, its path a template: /dags/{dag_id}
	// V2Method and V2Path are the v2 endpoint it becomes; the path's {names} are the v1 path's values.
	// Left out of the table, they are Method and Path.
	V2Method, V2Path string
	// ReadOnly says that a POST only reads, as a query too long for a URL does: a Viewer may send it.
	ReadOnly bool
	// Gone, for an endpoint v2 has no counterpart of, says what replaced it: the call is answered 404.
	Gone string
	// Request translates the query and body in place; nil leaves them as they are.
	Request func(c *Call, p Params, now time.Time) error
	// Object translates each object of a successful answer in place: the answer itself, or with List,
	// each object of the list of that name in it (a collection: {"dags": [...], "total_entries": N}).
	Object func(obj map[string]any)
	List   string
	// Answer, for the answers that are more than objects, translates the whole document in place.
	Answer func(doc map[string]any, c *Call)
	// Status is the v1 status of a success, when v2's differs (201 for 200).
	Status int
	// Retry, when set, may ask for another call when v2 answers a, such as PATCH after a 409 of POST.
	Retry func(a *Answer, c *Call, p Params) *Call
}

func init() {
	for i := range table {
		if table[i].V2Method == "" {
			table[i].V2Method = table[i].Method
		}
		if table[i].V2Path == "" {
			table[i].V2Path = table[i].Path
		}
	}
}

// Reads reports whether a call of v1 or v2 (path under its API's prefix) only reads: a GET, or a POST
// whose entry says it only reads.
func Reads(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPost:
	default:
		return false
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/") // a trailing slash is another path
	for i := range table {
		if !table[i].ReadOnly {
			continue
		}
		if _, ok := match(table[i].Path, segs); ok && table[i].Method == method {
			return true
		}
		if _, ok := match(table[i].V2Path, segs); ok && table[i].V2Method == method {
			return true
		}
	}
	return false
}

// Params are the values of an endpoint's path template.
type Params map[string]string

// Translation is a v1 call as v2 takes it, with what turns its answer back.
type Translation struct {
	Endpoint *Endpoint
	Params   Params
	V1       *Call // the call as it came
	V2       *Call // the call to send
	// logText says that the v1 call asked for a task's log as text, which is made from v2's JSON lines.
	logText bool
}

// Error is a v1 call that is answered without a v2 call: an endpoint with no counterpart, a malformed
// body. It carries its v1 status.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// Translate finds the v1 call's endpoint and returns the v2 call it becomes. now is the time a call
// without a logical date is made at, as Airflow 2 did.
func Translate(c *Call, now time.Time) (*Translation, error) {
	ep, params := Lookup(c.Method, c.Path)
	if ep == nil {
		if other := pathKnown(c.Path); other {
			return nil, &Error{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("method %s is not allowed on /api/v1%s", c.Method, c.Path)}
		}
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(
			"/api/v1%s is not an endpoint of Airflow 2's REST API that this gateway translates for Airflow 3; Airflow 3's own API is /api/v2", c.Path)}
	}
	if ep.Gone != "" {
		return nil, &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("%s /api/v1%s has no counterpart in Airflow 3: %s", ep.Method, ep.Path, ep.Gone)}
	}
	if err := checkIDs(params); err != nil {
		return nil, err
	}
	v2 := &Call{Method: ep.V2Method, Path: fill(ep.V2Path, params), Query: url.Values{}, Accept: c.Accept, Body: c.Body}
	for k, v := range c.Query {
		v2.Query[k] = append([]string(nil), v...)
	}
	if ep.Request != nil {
		if err := ep.Request(v2, params, now); err != nil {
			return nil, err
		}
	}
	return &Translation{Endpoint: ep, Params: params, V1: c, V2: v2}, nil
}

// idRules are the characters Airflow allows in the ids of a path: DAG and task ids are keys, run ids
// follow [scheduler] allowed_run_id_pattern's default. An id outside them names nothing that can exist,
// and is answered 404 as Airflow 2 did, rather than sent on (Airflow 3 answers some of them 500); so is
// "." or "..", which a path would read as a step up (ids from a body, such as updateTaskInstancesState's,
// become path segments).
var idRules = map[string]*regexp.Regexp{
	"dag_id":     regexp.MustCompile(`^[A-Za-z0-9_.-]{1,250}$`),
	"task_id":    regexp.MustCompile(`^[A-Za-z0-9_.-]{1,250}$`),
	"dag_run_id": regexp.MustCompile(`^[A-Za-z0-9_.~:+-]{1,250}$`),
}

func checkIDs(p Params) error {
	for name, v := range p {
		if v == "." || v == ".." {
			return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no %s %q can exist: a path would read it as a step", strings.ReplaceAll(name, "_", " "), v)}
		}
	}
	for name, rule := range idRules {
		if v, ok := p[name]; ok && !rule.MatchString(v) {
			return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no %s %q can exist: it may hold only what %s allows",
				strings.ReplaceAll(name, "_", " "), Shorten(v), rule)}
		}
	}
	return nil
}

// Shorten cuts a value to a length fit for a message.
func Shorten(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

// Lookup returns the endpoint of a v1 method and path, and the path's values, or nil.
func Lookup(method, path string) (*Endpoint, Params) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range table {
		ep := &table[i]
		if ep.Method != method {
			continue
		}
		if p, ok := match(ep.Path, segs); ok {
			return ep, p
		}
	}
	return nil, nil
}

// pathKnown reports whether some endpoint has this path, whatever its method.
func pathKnown(path string) bool {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range table {
		if _, ok := match(table[i].Path, segs); ok {
			return true
		}
	}
	return false
}

func match(template string, segs []string) (Params, bool) {
	want := strings.Split(strings.Trim(template, "/"), "/")
	if len(want) != len(segs) {
		return nil, false
	}
	p := Params{}
	for i, w := range want {
		if strings.HasPrefix(w, "{") {
			if segs[i] == "" {
				return nil, false
			}
			p[w[1:len(w)-1]] = segs[i]
		} else if w != segs[i] {
			return nil, false
		}
	}
	return p, true
}

// fill puts the values of p into a path template, escaped as path segments.
func fill(template string, p Params) string {
	var b strings.Builder
	for i, seg := range strings.Split(strings.Trim(template, "/"), "/") {
		if i > 0 || strings.HasPrefix(template, "/") {
			b.WriteByte('/')
		}
		if strings.HasPrefix(seg, "{") {
			seg = url.PathEscape(p[seg[1:len(seg)-1]])
		}
		b.WriteString(seg)
	}
	return b.String()
}

// Template returns the route of a v1 or v2 path with its values replaced by their names, as metrics label
// it: /dags/{dag_id}/dagRuns. A path no entry knows is labelled by its first segment when that is one of
// the APIs' own collections, and as /... otherwise, so that no value a caller sends becomes a label.
func Template(method, path string) string {
	if ep, _ := Lookup(method, path); ep != nil {
		return ep.Path
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := range table {
		if _, ok := match(table[i].V2Path, segs); ok {
			return table[i].V2Path
		}
	}
	if !slices.Contains(collections, segs[0]) {
		return "/..."
	}
	if len(segs) > 1 {
		return "/" + segs[0] + "/..."
	}
	return "/" + segs[0]
}

// collections are the first segments of the paths of Airflow's two REST APIs.
var collections = []string{"assets", "auth", "backfills", "config", "connections", "dagSources", "dagStats", "dagTags", "dagWarnings",
	"dags", "datasets", "eventLogs", "health", "importErrors", "jobs", "monitor", "parseDagFile", "permissions", "plugins", "pools",
	"providers", "roles", "users", "variables", "version"}

// Back turns v2's answer into v1's: a success through the endpoint's Answer, an error into v1's problem
// document with v1's status (400 for v2's 422).
func (t *Translation) Back(a *Answer) *Answer {
	if a.Status >= 400 {
		return v1Error(a)
	}
	out := &Answer{Status: a.Status, ContentType: a.ContentType, Body: a.Body}
	if t.Endpoint.Status != 0 && a.Status/100 == 2 {
		out.Status = t.Endpoint.Status
	}
	if t.Endpoint.Answer == nil && t.Endpoint.Object == nil || len(a.Body) == 0 || !strings.HasPrefix(a.ContentType, "application/json") {
		return out
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil || doc == nil { // null decodes into no map at all
		return out
	}
	switch ep := t.Endpoint; {
	case ep.Answer != nil:
		ep.Answer(doc, t.V1)
	case ep.List != "":
		each(ep.List, ep.Object)(doc, t.V1)
	default:
		one(ep.Object)(doc, t.V1)
	}
	out.Body = encode(doc)
	return out
}

// Retry returns the call to send instead after v2 answered a, or nil.
func (t *Translation) Retry(a *Answer) *Call {
	if t.Endpoint.Retry == nil {
		return nil
	}
	return t.Endpoint.Retry(a, t.V2, t.Params)
}

func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

// Problem is the error document of Airflow 2's REST API.
type Problem struct {
	Detail string `json:"detail"`
	Status int    `json:"status"`
	Title  string `json:"title"`
	Type   string `json:"type"`
}

// NewProblem returns v1's error document for status and detail.
func NewProblem(status int, detail string) Problem {
	kind := map[int]string{400: "BadRequest", 401: "Unauthenticated", 403: "PermissionDenied", 404: "NotFound", 405: "MethodNotAllowed", 409: "AlreadyExists"}[status]
	if kind == "" {
		kind = "Unknown"
	}
	return Problem{Detail: detail, Status: status, Title: http.StatusText(status),
		Type: "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors/" + kind}
}

// v1Error turns a v2 error answer into v1's: FastAPI's {"detail": ...} (a text, a list of validation
// errors, or an object) into a problem document, and 422 into 400.
func v1Error(a *Answer) *Answer {
	status := a.Status
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	detail := http.StatusText(status)
	var doc struct {
		Detail json.RawMessage `json:"detail"`
		Error  string          `json:"error"`
	}
	if json.Unmarshal(a.Body, &doc) == nil {
		detail = detailText(doc.Detail, detail)
		if doc.Error != "" {
			detail = doc.Error
		}
	}
	return &Answer{Status: status, ContentType: "application/problem+json", Body: encode(NewProblem(status, detail))}
}

// detailText reads FastAPI's detail: a text, a list of validation errors, or an object with a message.
func detailText(raw json.RawMessage, fallback string) string {
	var text string
	if json.Unmarshal(raw, &text) == nil && text != "" {
		return text
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		parts := make([]string, len(list))
		for i, e := range list {
			loc := make([]string, 0, len(e.Loc))
			for j, l := range e.Loc {
				if where := fmt.Sprint(l); j > 0 || !slices.Contains([]string{"body", "query", "path", "header"}, where) {
					loc = append(loc, where) // "body", "query": where, not what
				}
			}
			parts[i] = strings.Join(loc, ".") + ": " + e.Msg
		}
		return strings.Join(parts, "; ")
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"message", "reason"} {
			if s, ok := obj[k].(string); ok {
				return s
			}
		}
	}
	return fallback
}
