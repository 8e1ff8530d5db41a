// Package restscope says what a credential with a scope (SPEC §19) may do with Airflow's REST API, for
// /api/v1 and /api/v2 alike: an endpoint about one DAG (a {dag_id} in its path) runs when the DAG is in
// scope; a listing across DAGs answers only the rows of DAGs in scope, with totals and paging that agree;
// every other endpoint is refused. It is a table (table.go), one entry per endpoint of Airflow's two
// OpenAPI documents, and pure functions from a call to a decision; the scope itself is the domain's
// (commands.Scope). forward.go reads a filtered listing's pages for the gateway's proxy.
package restscope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// Call is a REST call as its client sent it.
type Call struct {
	API    int // 1 for /api/v1, 2 for /api/v2
	Method string
	Path   string // under the API's prefix, its segments decoded: /dags/team_a_etl/dagRuns
	Query  url.Values
	Body   []byte // nil when the call has none
}

// Reach says how an endpoint reaches DAGs, which decides what a scoped credential may do with it.
type Reach int

const (
	reachUnknown    Reach = iota // not classified: refused
	reachOneDAG                  // about the one DAG its path's {dag_id} names: runs when that DAG is in scope
	reachListing                 // lists across DAGs: answers the rows of DAGs in scope
	reachManyDAGs                // acts on every DAG a pattern or its body names: refused
	reachAcrossDAGs              // reaches DAGs without naming them, and is not filtered: refused
	reachNotDAGs                 // about something other than DAGs: refused
	reachNoResource              // about no resource a scope guards (health, version): runs
)

// Endpoint is one entry of the table: a method, a path template as its OpenAPI document writes it, and
// how it reaches DAGs.
type Endpoint struct {
	Method, Path string
	Rule         Rule
}

// Rule is how an endpoint reaches DAGs: its Reach and, for a listing, its List. An endpoint about one
// DAG whose path takes `~` for its DAG id (every DAG) has the List that `~` makes of it too.
type Rule struct {
	Reach Reach
	List  *List
}

func listing(l *List) Rule { return Rule{Reach: reachListing, List: l} }

// or is an endpoint about one DAG that lists across DAGs with `~` for its DAG id.
func (r Rule) or(l *List) Rule { r.List = l; return r }

// List is a listing across DAGs: the name of its rows in the answer, how a row names its DAG, and how the
// call names DAGs, which says how the scope is applied.
type List struct {
	Name   string
	ByFile bool   // a row names a file (its filename), not a DAG (its dag_id)
	IDs    idsIn  // where the call names DAGs
	Param  string // the query parameter or body key that names them
}

// idsIn is where a listing's call names the DAGs it lists.
type idsIn int

const (
	// nowhere: the listing is read whole, page after page, and its rows in scope are answered.
	nowhere idsIn = iota
	// idsInBody and idsInQuery: a list of DAG ids that Airflow filters on. One the caller gives must be in
	// scope; none given, the scope's DAGs that the index knows are asked for.
	idsInBody
	idsInQuery
	// oneInQuery: one DAG id, as a filter: in scope, the call runs as it is; none given, the listing is
	// read whole and filtered.
	oneInQuery
)

var (
	dags               = &List{Name: "dags"}
	dagRuns            = &List{Name: "dag_runs"}
	taskInstances      = &List{Name: "task_instances"}
	batchRuns          = &List{Name: "dag_runs", IDs: idsInBody, Param: "dag_ids"}
	batchTaskInstances = &List{Name: "task_instances", IDs: idsInBody, Param: "dag_ids"}
	dagStats           = &List{Name: "dags", IDs: idsInQuery, Param: "dag_ids"}
	importErrors       = &List{Name: "import_errors", ByFile: true}
	eventLogs          = &List{Name: "event_logs", IDs: oneInQuery, Param: "dag_id"}
)

var (
	oneDAG     = Rule{Reach: reachOneDAG}
	manyDAGs   = Rule{Reach: reachManyDAGs}
	acrossDAGs = Rule{Reach: reachAcrossDAGs}
	notDAGs    = Rule{Reach: reachNotDAGs}
	noResource = Rule{Reach: reachNoResource}
)

// RefusedEndpoint is the reason (commands.Refusal) of an endpoint refused to a scoped credential.
const RefusedEndpoint = "rest_endpoint"

// Verdict is what a scope makes of a call.
type Verdict int

const (
	// Allow: the call runs, as Decision.Call has it.
	Allow Verdict = iota + 1
	// Filter: a listing read whole and answered with its rows in scope (Decision.Listing).
	Filter
	// Empty: a listing of no DAG the scope reaches, answered empty without asking Airflow.
	Empty
)

// Decision is what Decide makes of a call.
type Decision struct {
	Verdict Verdict
	// Call is the call to send: the client's, or, for a listing that takes DAG ids, the client's with the
	// ids of the scope's DAGs. Changed says that it is not the client's.
	Call    *Call
	Changed bool
	// Listing, for Filter and Empty, says what the answer lists and which of its rows are shown.
	Listing *Listing
}

// Listing is a listing to answer filtered: the name of its rows, and whether the scope reaches a row.
type Listing struct {
	Name  string
	Keep  func(row map[string]any) bool
	Scope commands.Scope // the scope that filters it, for a refusal
}

// Decide answers what a credential of scope may do with c (index is what the scope
// matches against): it runs, as it is or with the scope's DAG ids, it is answered filtered, or it is
// refused with a *commands.Refusal naming the scope, the same whether the DAGs it names exist or not. A
// body that cannot be read is an *commands.Error (EINVALID). The zero scope allows every call.
func Decide(c *Call, scope commands.Scope, index *commands.DAGIndex) (*Decision, error) {
	allow := &Decision{Verdict: Allow, Call: c}
	if scope.IsZero() {
		return allow, nil
	}
	called := fmt.Sprintf("%s /api/v%d%s", c.Method, c.API, c.Path)
	refuse := func(format string, args ...any) error {
		return commands.NewRefusal(RefusedEndpoint, scope, nil, format+"; use a credential without a scope for it", args...)
	}
	ep, params := Lookup(c.API, c.Method, c.Path)
	if ep == nil {
		return nil, refuse("%s is not known to stay within this credential's scope (%s)", called, scope)
	}
	rule := ep.Rule
	if id, ok := params["dag_id"]; ok {
		switch {
		case id == "~" && rule.List != nil:
			return decideListing(c, rule.List, scope, index)
		case id == "~":
			return nil, refuse("%s with ~ for its DAG id reaches every DAG, beyond this credential's scope (%s); name a DAG in scope", called, scope)
		case rule.Reach != reachOneDAG:
			break // a bulk call, whose body names the DAGs
		case !scope.Reaches(id, index):
			return nil, commands.NewRefusal(commands.RefusedOutOfScope, scope, []string{id},
				"the DAG %q is not in this credential's scope (%s)", commands.Shorten(id), scope)
		case c.API == 1 && c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/clearTaskInstances") &&
			(bodyFlag(c.Body, "include_parentdag") || bodyFlag(c.Body, "include_subdags")):
			return nil, refuse("%s with include_parentdag or include_subdags clears, on Airflow 2, the tasks of the parent DAG or of the DAGs its ExternalTaskMarkers name, beyond this credential's scope (%s); leave them out", called, scope)
		case c.API == 1 && c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/clear") && strings.Contains(c.Path, "/dagRuns/"):
			// Airflow 2 clears a run with include_subdags and include_parentdag, and no way to say otherwise.
			return nil, refuse("%s clears, on Airflow 2, the tasks of the DAGs that the run's ExternalTaskMarkers name too, beyond this credential's scope (%s); use POST /api/v1/dags/{dag_id}/clearTaskInstances with dag_run_id", called, scope)
		default:
			return allow, nil
		}
	}
	switch rule.Reach {
	case reachNoResource:
		return allow, nil
	case reachListing:
		return decideListing(c, rule.List, scope, index)
	case reachManyDAGs:
		return nil, refuse("%s acts on every DAG that its query or body names, at once, beyond this credential's scope (%s); call it for each DAG in scope", called, scope)
	case reachNotDAGs:
		return nil, refuse("%s is not about DAGs, and this credential's scope (%s) covers DAGs only", called, scope)
	case reachAcrossDAGs:
		return nil, refuse("%s reaches DAGs that the gateway cannot keep to this credential's scope (%s)", called, scope)
	}
	return nil, refuse("%s is not known to stay within this credential's scope (%s)", called, scope)
}

// decideListing applies a scope to a listing across DAGs (see idsIn).
func decideListing(c *Call, l *List, scope commands.Scope, index *commands.DAGIndex) (*Decision, error) {
	keep := func(row map[string]any) bool {
		id, _ := row["dag_id"].(string)
		return id != "" && id != "~" && scope.Reaches(id, index)
	}
	if l.ByFile {
		keep = func(row map[string]any) bool {
			name, _ := row["filename"].(string)
			bundle, _ := row["bundle_name"].(string) // Airflow 3: the file's path is in this bundle
			return scope.ReachesFile(bundle, name, index)
		}
	}
	filtered := &Decision{Verdict: Filter, Call: c, Listing: &Listing{Name: l.Name, Keep: keep, Scope: scope}}
	var named []string
	var doc map[string]any
	switch l.IDs {
	case nowhere:
		if l == dags {
			narrowByTags(filtered, scope)
		}
		return filtered, nil
	case oneInQuery:
		// Airflow reads the last of a repeated parameter: every value is judged, and two are refused.
		values := c.Query[l.Param]
		if len(values) > 1 {
			return nil, commands.Errorf(commands.EINVALID, "%s is given %d times; give it once", l.Param, len(values))
		}
		if len(values) == 0 || values[0] == "" {
			return filtered, nil
		}
		named = values
	case idsInQuery:
		for _, v := range c.Query[l.Param] {
			for id := range strings.SplitSeq(v, ",") {
				if id = strings.TrimSpace(id); id != "" {
					named = append(named, id)
				}
			}
		}
	case idsInBody:
		var err error
		if doc, err = object(c.Body); err != nil {
			return nil, err
		}
		switch ids := doc[l.Param].(type) {
		case nil:
		case []any:
			for _, v := range ids {
				id, ok := v.(string)
				if !ok {
					return nil, commands.Errorf(commands.EINVALID, "%s must be a list of DAG ids, such as [\"my_dag\"]", l.Param)
				}
				named = append(named, id)
			}
		default:
			return nil, commands.Errorf(commands.EINVALID, "%s must be a list of DAG ids, such as [\"my_dag\"]", l.Param)
		}
	}
	if len(named) > 0 {
		for _, id := range named {
			if id == "~" || !scope.Reaches(id, index) {
				return nil, commands.NewRefusal(commands.RefusedOutOfScope, scope, named,
					"the DAG %q is not in this credential's scope (%s); list only DAGs in scope, or leave %s out for all of them", commands.Shorten(id), scope, l.Param)
			}
		}
		return &Decision{Verdict: Allow, Call: c}, nil
	}
	// None named (an empty list is none to Airflow too): the scope's DAGs, as the index knows them.
	known := scope.Known(index)
	if len(known) == 0 {
		return &Decision{Verdict: Empty, Call: c, Listing: filtered.Listing}, nil
	}
	out := *c
	if l.IDs == idsInBody {
		doc[l.Param] = known
		out.Body = encode(doc)
	} else {
		out.Query = url.Values{}
		for k, v := range c.Query {
			out.Query[k] = slices.Clone(v)
		}
		if c.API == 1 {
			out.Query.Set(l.Param, strings.Join(known, ",")) // v1's lists are comma-separated
		} else {
			out.Query[l.Param] = known
		}
	}
	return &Decision{Verdict: Allow, Call: &out, Changed: true}, nil
}

// narrowByTags asks Airflow for the DAGs of a scope made of tags only, with its tags (Airflow lists the
// DAGs that carry any of them), so that fewer pages are read to filter; the rows are filtered all the
// same. A call that names tags of its own, or asks for DAGs with all of them, is left as it is.
func narrowByTags(d *Decision, scope commands.Scope) {
	c := d.Call
	if len(scope.DAGs())+len(scope.Teams()) > 0 || len(c.Query["tags"]) > 0 || (c.Query.Get("tags_match_mode") != "" && c.Query.Get("tags_match_mode") != "any") {
		return
	}
	out := *c
	out.Query = url.Values{}
	for k, v := range c.Query {
		out.Query[k] = slices.Clone(v)
	}
	out.Query["tags"] = scope.Tags()
	d.Call, d.Changed = &out, true
}

// object reads a call's JSON object; an empty body is an empty object.
func object(body []byte) (map[string]any, error) {
	doc := map[string]any{}
	if len(bytes.TrimSpace(body)) == 0 {
		return doc, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, commands.Errorf(commands.EINVALID, "the request body is not a JSON object (%v); send one, such as {\"dag_ids\": [\"my_dag\"]}", err)
	}
	return doc, nil
}

// bodyFlag reports whether a JSON body sets key to anything but false; a body that cannot be read does.
func bodyFlag(body []byte, key string) bool {
	doc, err := object(body)
	if err != nil {
		return true
	}
	v, ok := doc[key]
	return ok && v != false && v != nil
}

func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

// Lookup returns the entry of a call of an API (1 or 2) and the values of its path template, or nil. A
// trailing slash, an empty segment or another case is another path, which no entry has.
func Lookup(api int, method, path string) (*Endpoint, map[string]string) {
	table := map[int][]Endpoint{1: v1, 2: v2}[api]
	if !strings.HasPrefix(path, "/") {
		return nil, nil
	}
	segs := strings.Split(path[1:], "/")
	var found *Endpoint
	var params map[string]string
	literal := -1
	for i := range table {
		ep := &table[i]
		if ep.Method != method {
			continue
		}
		if p, n, ok := match(ep.Path, segs); ok && n > literal {
			found, params, literal = ep, p, n
		}
	}
	return found, params
}

// match matches a template's segments to a path's, and counts the literal segments that matched: of two
// templates that match (/dags/~/dagRuns/list and /dags/{dag_id}/dagRuns/list), the more literal wins.
func match(template string, segs []string) (map[string]string, int, bool) {
	want := strings.Split(strings.TrimPrefix(template, "/"), "/")
	if len(want) != len(segs) {
		return nil, 0, false
	}
	p, literal := map[string]string{}, 0
	for i, w := range want {
		switch {
		case strings.HasPrefix(w, "{"):
			if segs[i] == "" {
				return nil, 0, false
			}
			p[w[1:len(w)-1]] = segs[i]
		case w == segs[i]:
			literal++
		default:
			return nil, 0, false
		}
	}
	return p, literal, true
}
