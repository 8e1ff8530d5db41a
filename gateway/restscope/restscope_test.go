package restscope

import (
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// documents are Airflow's two OpenAPI documents, as gateway/restv1 keeps them, with the table that
// classifies each one's endpoints and the prefix of its paths.
var documents = []struct {
	file, prefix string
	table        []Endpoint
}{
	{"v1.yaml", "", v1},
	{"v2-rest-api-generated.yaml", "/api/v2", v2},
}

// TestTablesHoldTheDocuments fails while an endpoint of either OpenAPI document has no entry, or an entry
// no endpoint: an endpoint nobody classified is refused to every scoped credential, and a new one of a
// release is classified before it ships.
func TestTablesHoldTheDocuments(t *testing.T) {
	for _, d := range documents {
		t.Run(d.file, func(t *testing.T) {
			doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "restv1", "testdata", "openapi", d.file))
			if err != nil {
				t.Fatal(err)
			}
			ops := map[string]bool{}
			for path, item := range doc.Paths.Map() {
				for method := range item.Operations() {
					ops[method+" "+strings.TrimPrefix(path, d.prefix)] = true
				}
			}
			classified := map[string]bool{}
			for _, ep := range d.table {
				key := ep.Method + " " + ep.Path
				if classified[key] {
					t.Errorf("%s has two entries", key)
				}
				classified[key] = true
				if !ops[key] {
					t.Errorf("%s is in the table but not in %s", key, d.file)
				}
				if ep.Rule.Reach == reachUnknown {
					t.Errorf("%s is not classified", key)
				}
				if ep.Rule.Reach == reachListing && ep.Rule.List == nil {
					t.Errorf("%s is a listing that says not what it lists", key)
				}
				if strings.HasPrefix(ep.Path, "/dags/{dag_id}") && ep.Rule.Reach != reachOneDAG && ep.Rule.Reach != reachManyDAGs && ep.Rule.Reach != reachAcrossDAGs {
					t.Errorf("%s names a DAG in its path, but is classified otherwise", key)
				}
			}
			for _, op := range slices.Sorted(func(yield func(string) bool) {
				for k := range ops {
					if !yield(k) {
						return
					}
				}
			}) {
				if !classified[op] {
					t.Errorf("%s of %s is not classified: add it to the table of table.go", op, d.file)
				}
			}
		})
	}
}

// index is the DAG index of the tests: team A's DAGs by id (team_a_*) and by tag (b_shared), team B's.
var index = commands.NewDAGIndex([]commands.DAGInfo{
	{ID: "team_a_etl", File: "/dags/team_a.py", Bundle: "dags-folder", RelativeFile: "team_a.py"},
	{ID: "b_shared", Tags: []string{"team-a", "team-b"}, File: "/dags/b_shared.py"},
	{ID: "b_other", Tags: []string{"team-b"}, File: "/dags/b_other.py"},
})

func teamA(tb testing.TB) commands.Scope {
	scope, err := commands.NewScope([]string{"team_a_*"}, []string{"team-a"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return scope
}

func TestDecide(t *testing.T) {
	const (
		refused = "refused"
		allow   = "allow"
		filter  = "filter"
		empty   = "empty"
	)
	for _, tt := range []struct {
		api          int
		method, path string
		query, body  string
		want         string
		reason       string // for refused
		sent         string // for a changed call: its query or body
	}{
		// One DAG: in scope or not, whether it exists or not.
		{1, "GET", "/dags/team_a_etl", "", "", allow, "", ""},
		{1, "GET", "/dags/team_a_new", "", "", allow, "", ""}, // a glob reaches ids the index does not know
		{1, "POST", "/dags/b_shared/dagRuns", "", `{}`, allow, "", ""},
		{2, "GET", "/dags/team_a_etl/dagRuns/r1/taskInstances/t/logs/1", "", "", allow, "", ""},
		{2, "GET", "/dags/team_a_etl/dagRuns/~/taskInstances", "", "", allow, "", ""},
		{2, "GET", "/dagSources/team_a_etl", "", "", allow, "", ""},
		{1, "GET", "/dags/b_other", "", "", refused, commands.RefusedOutOfScope, ""},
		{1, "GET", "/dags/no_such_dag", "", "", refused, commands.RefusedOutOfScope, ""},
		{2, "DELETE", "/dags/b_other", "", "", refused, commands.RefusedOutOfScope, ""},
		{2, "GET", "/dags/TEAM_A_ETL", "", "", refused, commands.RefusedOutOfScope, ""},
		{1, "POST", "/dags/b_other/clearTaskInstances", "", `{}`, refused, commands.RefusedOutOfScope, ""},
		{1, "POST", "/dags/team_a_etl/clearTaskInstances", "", `{"dry_run": true}`, allow, "", ""},
		{1, "POST", "/dags/team_a_etl/clearTaskInstances", "", `{"include_parentdag": true}`, refused, RefusedEndpoint, ""},
		// The forms of a path no entry has.
		{1, "GET", "/dags/team_a_etl/", "", "", refused, RefusedEndpoint, ""},
		{1, "GET", "/DAGS/team_a_etl", "", "", refused, RefusedEndpoint, ""},
		{1, "GET", "/dags//dagRuns", "", "", refused, RefusedEndpoint, ""},
		{1, "HEAD", "/dags/team_a_etl", "", "", refused, RefusedEndpoint, ""},
		{2, "GET", "/dags/team_a_etl/noSuchThing", "", "", refused, RefusedEndpoint, ""},
		// ~ is every DAG: a listing where the endpoint has one, refused elsewhere.
		{1, "GET", "/dags/~", "", "", refused, RefusedEndpoint, ""},
		{2, "DELETE", "/dags/~/dagRuns/r1", "", "", refused, RefusedEndpoint, ""},
		{2, "POST", "/dags/~/clearTaskInstances", "", `{}`, refused, RefusedEndpoint, ""},
		{2, "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries", "", "", refused, RefusedEndpoint, ""},
		{1, "GET", "/dags/~/dagRuns", "", "", filter, "", ""},
		{2, "GET", "/dags/~/dagRuns/~/taskInstances", "", "", filter, "", ""},
		// Bulk calls whose body or pattern names the DAGs.
		{1, "PATCH", "/dags", "dag_id_pattern=team_a", `{"is_paused": true}`, refused, RefusedEndpoint, ""},
		{2, "PATCH", "/dags/team_a_etl/dagRuns", "", `{"actions": []}`, refused, RefusedEndpoint, ""},
		{2, "PATCH", "/dags/~/dagRuns/~/taskInstances", "", `{"actions": []}`, refused, RefusedEndpoint, ""},
		// Not about DAGs, or not filtered.
		{1, "GET", "/variables", "", "", refused, RefusedEndpoint, ""},
		{2, "POST", "/pools", "", `{}`, refused, RefusedEndpoint, ""},
		{1, "GET", "/connections/x", "", "", refused, RefusedEndpoint, ""},
		{2, "GET", "/config", "", "", refused, RefusedEndpoint, ""},
		{2, "GET", "/assets", "", "", refused, RefusedEndpoint, ""},
		{2, "POST", "/backfills", "", `{"dag_id": "team_a_etl"}`, refused, RefusedEndpoint, ""},
		{1, "GET", "/importErrors/1", "", "", refused, RefusedEndpoint, ""},
		{1, "GET", "/users", "", "", refused, RefusedEndpoint, ""},
		{2, "GET", "/version", "", "", allow, "", ""},
		{1, "GET", "/health", "", "", allow, "", ""},
		// Listings read whole and filtered; a scope of tags only asks Airflow for its tags.
		{1, "GET", "/dags", "limit=2", "", filter, "", ""},
		{2, "GET", "/importErrors", "", "", filter, "", ""},
		{2, "GET", "/eventLogs", "", "", filter, "", ""},
		{1, "GET", "/eventLogs", "dag_id=team_a_etl", "", allow, "", ""},
		{1, "GET", "/eventLogs", "dag_id=b_other", "", refused, commands.RefusedOutOfScope, ""},
		// Listings of DAG ids: those given must be in scope; none given, the scope's.
		{1, "POST", "/dags/~/dagRuns/list", "", `{"dag_ids": ["team_a_etl"], "page_limit": 5}`, allow, "", ""},
		{1, "POST", "/dags/~/dagRuns/list", "", `{"dag_ids": ["team_a_etl", "b_other"]}`, refused, commands.RefusedOutOfScope, ""},
		{1, "POST", "/dags/~/dagRuns/list", "", `{"dag_ids": ["~"]}`, refused, commands.RefusedOutOfScope, ""},
		{1, "POST", "/dags/~/dagRuns/list", "", `{"page_limit": 5}`, allow, "", `{"dag_ids":["b_shared","team_a_etl"],"page_limit":5}`},
		{1, "POST", "/dags/~/dagRuns/~/taskInstances/list", "", `{"dag_ids": []}`, allow, "", `{"dag_ids":["b_shared","team_a_etl"]}`},
		{2, "POST", "/dags/~/dagRuns/list", "", ``, allow, "", `{"dag_ids":["b_shared","team_a_etl"]}`},
		{2, "POST", "/dags/~/dagRuns/~/taskInstances/list", "", `{"dag_ids": "team_a_etl"}`, refused, "", ""},
		{2, "POST", "/dags/~/dagRuns/list", "", `[1]`, refused, "", ""},
		{1, "GET", "/dagStats", "dag_ids=team_a_etl,b_shared", "", allow, "", ""},
		{1, "GET", "/dagStats", "dag_ids=team_a_etl,b_other", "", refused, commands.RefusedOutOfScope, ""},
		{1, "GET", "/dagStats", "", "", allow, "", "dag_ids=b_shared%2Cteam_a_etl"},
		{2, "GET", "/dagStats", "", "", allow, "", "dag_ids=b_shared&dag_ids=team_a_etl"},
		{2, "GET", "/dagStats", "dag_ids=b_other", "", refused, commands.RefusedOutOfScope, ""},
	} {
		name := tt.method + " " + tt.path + "?" + tt.query + " " + tt.body
		t.Run(name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			d, err := Decide(&Call{API: tt.api, Method: tt.method, Path: tt.path, Query: q, Body: body}, teamA(t), index)
			if tt.want == refused {
				var r *commands.Refusal
				asRefusal := commands.ErrorCode(err) == commands.EFORBIDDEN && errorsAs(err, &r)
				switch {
				case err == nil:
					t.Fatalf("allowed: %+v", d)
				case tt.reason == "" && commands.ErrorCode(err) != commands.EINVALID:
					t.Fatalf("%v, want a 400", err)
				case tt.reason != "" && (!asRefusal || r.Reason != tt.reason):
					t.Fatalf("%v, want a refusal for %s", err, tt.reason)
				case tt.reason != "" && !strings.Contains(err.Error(), "dags team_a_*; tags team-a"):
					t.Errorf("the refusal does not name the scope: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[Verdict]string{Allow: allow, Filter: filter, Empty: empty}[d.Verdict]
			if got != tt.want {
				t.Fatalf("%s, want %s", got, tt.want)
			}
			if tt.sent == "" {
				if d.Changed {
					t.Errorf("the call was changed: %+v", d.Call)
				}
				return
			}
			sent := d.Call.Query.Encode()
			if d.Call.Body != nil {
				sent = strings.TrimSpace(string(d.Call.Body))
			}
			if !d.Changed || sent != tt.sent {
				t.Errorf("sent %s, want %s", sent, tt.sent)
			}
		})
	}
}

func TestDecideForTheZeroScopeAndOthers(t *testing.T) {
	c := &Call{API: 1, Method: "GET", Path: "/variables", Query: url.Values{}}
	if d, err := Decide(c, commands.Scope{}, nil); err != nil || d.Verdict != Allow || d.Changed {
		t.Errorf("the zero scope: %+v %v", d, err)
	}
	// A scope of tags only asks Airflow for the DAGs of its tags; one that reaches no DAG the index knows
	// answers a listing of DAG ids empty, without asking.
	tags, _ := commands.NewScope(nil, []string{"team-b"}, nil)
	d, err := Decide(&Call{API: 2, Method: "GET", Path: "/dags", Query: url.Values{"limit": {"5"}}}, tags, index)
	if err != nil || d.Verdict != Filter || !d.Changed || d.Call.Query.Encode() != "limit=5&tags=team-b" {
		t.Errorf("GET /dags, tags only: %+v %v", d, err)
	}
	d, _ = Decide(&Call{API: 2, Method: "GET", Path: "/dags", Query: url.Values{"tags": {"x"}}}, tags, index)
	if d.Changed {
		t.Errorf("GET /dags with the caller's tags was changed: %v", d.Call.Query)
	}
	none, _ := commands.NewScope([]string{"nothing_*"}, nil, nil)
	d, err = Decide(&Call{API: 1, Method: "POST", Path: "/dags/~/dagRuns/list", Body: []byte(`{}`)}, none, index)
	if err != nil || d.Verdict != Empty || d.Listing.Name != "dag_runs" {
		t.Errorf("a listing of no DAG: %+v %v", d, err)
	}
	// The rows kept: by dag_id, and import errors by their file.
	d, _ = Decide(&Call{API: 1, Method: "GET", Path: "/dags", Query: url.Values{}}, teamA(t), index)
	for row, want := range map[string]bool{`{"dag_id": "team_a_etl"}`: true, `{"dag_id": "b_other"}`: false, `{"dag_id": "~"}`: false, `{"event": "cli"}`: false, `{"dag_id": 3}`: false} {
		var m map[string]any
		json.Unmarshal([]byte(row), &m)
		if d.Listing.Keep(m) != want {
			t.Errorf("the row %s kept: %v", row, !want)
		}
	}
	d, _ = Decide(&Call{API: 2, Method: "GET", Path: "/importErrors", Query: url.Values{}}, teamA(t), index)
	for row, want := range map[string]bool{`{"bundle_name": "dags-folder", "filename": "team_a.py"}`: true, `{"filename": "team_a.py"}`: false,
		`{"bundle_name": "team_b", "filename": "team_a.py"}`: false, `{"filename": "/dags/team_a.py"}`: true, `{"filename": "/dags/b_other.py"}`: false, `{"filename": "/dags/broken.py"}`: false, `{}`: false} {
		var m map[string]any
		json.Unmarshal([]byte(row), &m)
		if d.Listing.Keep(m) != want {
			t.Errorf("the import error %s kept: %v", row, !want)
		}
	}
}

func errorsAs(err error, r **commands.Refusal) bool { return errors.As(err, r) }
