package restscope

import (
	"net/url"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/commands"
)

// FuzzDecide checks that Decide never panics on a call as a client may send it (any method, path, query
// and body), and that what it lets run stays within the scope: a call that runs as it was sent names no
// DAG out of scope in its path, and a call it changed names only DAGs in scope in its body.
func FuzzDecide(f *testing.F) {
	f.Add(1, "GET", "/dags/team_a_etl", "", "")
	f.Add(1, "POST", "/dags/~/dagRuns/list", "", `{"dag_ids": ["team_a_etl", "b_other"], "page_limit": 5}`)
	f.Add(2, "GET", "/dags", "limit=2&offset=1&tags=team-a", "")
	f.Add(1, "POST", "/dags/team_a_etl/clearTaskInstances", "", `{"include_parentdag": true}`)
	f.Add(2, "GET", "/dags/~/dagRuns/~/taskInstances", "dag_ids=b_other", "")
	f.Add(1, "GET", "/importErrors", "", "")
	scope, err := commands.NewScope([]string{"team_a_*"}, []string{"team-a"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	index := commands.NewDAGIndex([]commands.DAGInfo{
		{ID: "team_a_etl", File: "/dags/a.py"}, {ID: "b_shared", Tags: []string{"team-a"}, File: "/dags/b.py"}, {ID: "b_other", File: "/dags/b.py"},
	})
	f.Fuzz(func(t *testing.T, api int, method, path, query, body string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		c := &Call{API: 1 + api&1, Method: method, Path: path, Query: q, Body: []byte(body)}
		d, err := Decide(c, scope, index)
		if err != nil {
			return
		}
		if _, params := Lookup(c.API, c.Method, c.Path); d.Verdict == Allow && !d.Changed {
			if id, ok := params["dag_id"]; ok && id != "~" && !scope.Reaches(id, index) {
				t.Fatalf("%s %s runs for %q, out of scope", method, path, id)
			}
		}
		if d.Verdict == Allow && (d.Changed || lookedAt(c)) {
			if ids, ok := mustObject(t, d.Call.Body)["dag_ids"].([]any); ok {
				for _, id := range ids {
					if s, _ := id.(string); !scope.Reaches(s, index) {
						t.Fatalf("%s %s is sent with %q, out of scope", method, path, s)
					}
				}
			}
		}
	})
}

// lookedAt reports whether Decide reads the call's body: a listing that takes DAG ids in it.
func lookedAt(c *Call) bool {
	ep, _ := Lookup(c.API, c.Method, c.Path)
	return ep != nil && ep.Rule.List != nil && c.Method == "POST"
}

func mustObject(t *testing.T, body []byte) map[string]any {
	if len(body) == 0 {
		return nil
	}
	m, err := object(body)
	if err != nil {
		t.Fatalf("the gateway sends a body it cannot read: %v", err)
	}
	return m
}
