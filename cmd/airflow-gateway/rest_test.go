package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// TestRESTAPIAgainstAirflow runs one script of Airflow 2's REST API (/api/v1), the calls of the guides
// and of the managed service's example among them, three ways: straight to Airflow 2.10's webserver,
// through a gateway in front of it, and through a gateway in front of Airflow 3's API server, which
// translates it to /api/v2 and back. Each step checks what Airflow 2.10 answers, its statuses, fields and
// their types, and the three runs must observe the same: the same statuses and the same fields.
func TestRESTAPIAgainstAirflow(t *testing.T) {
	testbed.SkipShort(t, "Airflow's REST API against a real Airflow")
	airflow2 = testbed.Airflow(t, "2") // whose v1.yaml every answer is held to
	var mu sync.Mutex
	seen := map[string][]string{}
	t.Cleanup(func() {
		straight := seen["straight to Airflow 2"]
		for _, way := range []string{"through the gateway on Airflow 2", "through the gateway on Airflow 3"} {
			if got := seen[way]; straight != nil && got != nil {
				if diff := transcriptDiff(straight, got); diff != "" {
					t.Errorf("the v1 script observed something else %s than straight to Airflow 2:\n%s", way, diff)
				}
			}
		}
	})
	for _, major := range testbed.Versions {
		t.Run("airflow-"+major, func(t *testing.T) {
			t.Parallel()
			home := testbed.MustHome(t, major, filepath.Join(testbed.Dir(), "gw_teams.py"))
			api := testbed.StartAirflowAPI(t, home)
			// A finished run of two tasks, with their logs and XCom, for the script to read.
			api.RunDAG(t, "gw_two_tasks", "2024-06-08")
			g := mustServe(t, testbed.Config{Home: home, Executor: "subprocess", SecretKey: "a-secret-key-of-the-rest-test",
				AirflowAPIURL: api.URL, AirflowAPIUsersFile: api.UsersFile(t)})
			record := func(way string, r *v1Run) {
				mu.Lock()
				defer mu.Unlock()
				seen[way] = r.seen
			}
			if api.Major == 2 {
				admin := &testbed.Client{URL: api.URL, TokenHeader: "Authorization", Token: basic(api.Users["Admin"], api.Password("Admin"))}
				record("straight to Airflow 2", v1Script(t, admin, home))
			}
			record(fmt.Sprintf("through the gateway on Airflow %d", api.Major), v1Script(t, g.Client, home))
			gatewayOnly(t, g.Client, home, api)
			t.Run("scoped", func(t *testing.T) { scopedREST(t, g.Client, home, api) })
			if api.Major >= 3 {
				realClients(t, g.Client, api)
				t.Run("as a person", func(t *testing.T) { personREST(t, home, api) })
			}
		})
	}
}

// airflow2 is the CLI of the Airflow 2 of the test bed.
var airflow2 string

// v1Document is Airflow 2.10's own OpenAPI document of /api/v1, as its package ships it: every answer
// of the script is held to it, translated or not.
var v1Document = sync.OnceValues(func() (routers.Router, error) {
	bin := airflow2
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "..", "lib", "python3*", "site-packages", "airflow", "api_connexion", "openapi", "v1.yaml"))
	if len(matches) == 0 {
		return nil, fmt.Errorf("no v1.yaml in the Airflow 2 of %s", bin)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(matches[0])
	if err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "/api/v1"}}
	return gorillamux.NewRouter(doc)
})

// v1Run is one run of the v1 script: its client, and what each call observed, in order.
type v1Run struct {
	t    *testing.T
	c    *testbed.Client
	seen []string
}

// runIDs are the run ids that differ from one run of the script to the next: those made from the time of
// a trigger, and Airflow 3's, made from the time of `dags test`.
var runIDs = regexp.MustCompile(`manual__[^/?"]+`)

// call sends a REST call and decodes its JSON answer, failing unless the status is want and the answer is
// one that Airflow 2.10's v1.yaml allows. It notes the status and the names of the answer's fields, and
// those of the first entry of each of its lists.
func (r *v1Run) call(method, target, body string, want int, header ...string) map[string]any {
	r.t.Helper()
	a := r.send(method, target, body, want, header...)
	doc := map[string]any{}
	if len(a.Body) > 0 {
		a.Decode(r.t, &doc)
	}
	line := fmt.Sprintf("%s %s: %d %s", method, runIDs.ReplaceAllString(target, "{run}"), a.Status, fieldNames(doc))
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if list, ok := doc[k].([]any); ok && len(list) > 0 {
			if first, ok := list[0].(map[string]any); ok {
				line += fmt.Sprintf(" %s[0]%s", k, fieldNames(first))
			}
		}
	}
	r.seen = append(r.seen, line)
	return doc
}

// send sends a REST call and returns its answer, held to want and to v1.yaml.
func (r *v1Run) send(method, target, body string, want int, header ...string) *testbed.Answer {
	r.t.Helper()
	var a *testbed.Answer
	if body == "" {
		a = r.c.Do(r.t, method, target, nil, header...)
	} else {
		a = r.c.Do(r.t, method, target, strings.NewReader(body), append(header, "Content-Type", "application/json")...)
	}
	if a.Status != want {
		r.t.Fatalf("%s %s: %d, want %d: %.600s", method, target, a.Status, want, a.Body)
	}
	if err := v1Conforms(method, target, body, a); err != nil {
		r.t.Errorf("%s %s answered what Airflow 2.10's v1.yaml does not allow: %v\n%.600s", method, target, err, a.Body)
	}
	return a
}

func fieldNames(doc map[string]any) string {
	return "{" + strings.Join(slices.Sorted(maps.Keys(doc)), ",") + "}"
}

// transcriptDiff lists the calls whose observations differ.
func transcriptDiff(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		w, g := "(none)", "(none)"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "  want %s\n   got %s\n", w, g)
		}
	}
	return b.String()
}

// v1Script runs the v1 script with c and returns what it observed. It leaves Airflow as it found it, so
// that it can run twice on one Airflow.
func v1Script(t *testing.T, c *testbed.Client, home *testbed.Home) *v1Run {
	r := &v1Run{t: t, c: c}
	// The DAGs, as the guides list them: a page of 100, the tags as a comma list, a projection.
	dags := r.call("GET", "/api/v1/dags?tags=example,gateway&only_active=true", "", http.StatusOK)
	list, _ := dags["dags"].([]any)
	var conf map[string]any
	for _, d := range list {
		if m := d.(map[string]any); m["dag_id"] == "gw_conf" {
			conf = m
		}
	}
	if conf == nil || dags["total_entries"] == nil {
		t.Fatalf("GET /api/v1/dags has no gw_conf: %v", dags)
	}
	if conf["is_active"] != true {
		t.Errorf("gw_conf is_active: %v", conf["is_active"])
	}
	one := r.call("GET", "/api/v1/dags/gw_conf?fields=dag_id,is_paused", "", http.StatusOK)
	if len(one) != 2 || one["dag_id"] != "gw_conf" {
		t.Errorf("GET a DAG with fields: %v", one)
	}
	r.call("GET", "/api/v1/dags/gw_conf/details", "", http.StatusOK)
	if tasks := r.call("GET", "/api/v1/dags/gw_two_tasks/tasks", "", http.StatusOK); tasks["total_entries"] != float64(2) {
		t.Errorf("the tasks of gw_two_tasks: %v", tasks)
	}

	// Pause with update_mask, and back; then many at once.
	if d := r.call("PATCH", "/api/v1/dags/gw_conf?update_mask=is_paused", `{"is_paused": true}`, http.StatusOK); d["is_paused"] != true {
		t.Errorf("pause: %v", d)
	}
	r.call("PATCH", "/api/v1/dags/gw_conf", `{"is_paused": false}`, http.StatusOK)
	if d := r.call("PATCH", "/api/v1/dags?dag_id_pattern=gw_conf&update_mask=is_paused", `{"is_paused": true}`, http.StatusOK); d["total_entries"] != float64(1) {
		t.Errorf("pause many: %v", d)
	}
	r.call("PATCH", "/api/v1/dags?dag_id_pattern=gw_conf&update_mask=is_paused", `{"is_paused": false}`, http.StatusOK)

	// Trigger with nothing, with logical_date and with execution_date: 200 each, and a run id made from
	// the logical date, as Airflow 2 made it.
	run := r.call("POST", "/api/v1/dags/gw_conf/dagRuns", `{}`, http.StatusOK)
	now, _ := run["dag_run_id"].(string)
	if !strings.HasPrefix(now, "manual__") || run["execution_date"] == nil || run["external_trigger"] != true {
		t.Errorf("trigger {}: %v", run)
	}
	run = r.call("POST", "/api/v1/dags/gw_conf/dagRuns", `{"logical_date": "2021-01-01T15:00:00+00:00", "conf": {"k": "v"}}`, http.StatusOK)
	if run["dag_run_id"] != "manual__2021-01-01T15:00:00+00:00" || run["execution_date"] != "2021-01-01T15:00:00+00:00" {
		t.Errorf("trigger with logical_date: %v", run)
	}
	run = r.call("POST", "/api/v1/dags/gw_conf/dagRuns", `{"execution_date": "2021-01-02T15:00:00+00:00"}`, http.StatusOK)
	if run["dag_run_id"] != "manual__2021-01-02T15:00:00+00:00" {
		t.Errorf("trigger with execution_date: %v", run)
	}
	runs := r.call("GET", "/api/v1/dags/gw_conf/dagRuns?order_by=-execution_date", "", http.StatusOK)
	if runs["total_entries"] != float64(3) {
		t.Errorf("the runs: %v", runs)
	}
	if runs := r.call("POST", "/api/v1/dags/~/dagRuns/list", `{"dag_ids": ["gw_conf"]}`, http.StatusOK); runs["total_entries"] != float64(3) {
		t.Errorf("the runs of the batch list: %v", runs)
	}
	if run := r.call("PATCH", "/api/v1/dags/gw_conf/dagRuns/"+now, `{"state": "failed"}`, http.StatusOK); run["state"] != "failed" {
		t.Errorf("a run set to failed: %v", run)
	}
	// The documented delete of a run by its id.
	r.call("DELETE", "/api/v1/dags/gw_conf/dagRuns/manual__2021-01-01T15:00:00+00:00", "", http.StatusNoContent)
	r.call("GET", "/api/v1/dags/gw_conf/dagRuns/manual__2021-01-01T15:00:00+00:00", "", http.StatusNotFound)
	r.call("DELETE", "/api/v1/dags/gw_conf/dagRuns/manual__2021-01-02T15:00:00+00:00", "", http.StatusNoContent)
	r.call("DELETE", "/api/v1/dags/gw_conf/dagRuns/"+now, "", http.StatusNoContent)

	// The run of gw_two_tasks: its task instances, their logs and XCom, and dry runs of clearing them.
	runs = r.call("GET", "/api/v1/dags/gw_two_tasks/dagRuns", "", http.StatusOK)
	first, _ := runs["dag_runs"].([]any)
	if len(first) != 1 {
		t.Fatalf("the runs of gw_two_tasks: %v", runs)
	}
	id := first[0].(map[string]any)["dag_run_id"].(string)
	ti := "/api/v1/dags/gw_two_tasks/dagRuns/" + id + "/taskInstances"
	if tis := r.call("GET", ti, "", http.StatusOK); tis["total_entries"] != float64(2) {
		t.Errorf("the task instances: %v", tis)
	}
	if one := r.call("GET", ti+"/extract", "", http.StatusOK); one["state"] != "success" || one["try_number"] != float64(1) {
		t.Errorf("the task instance: %v", one)
	}
	if tis := r.call("POST", "/api/v1/dags/~/dagRuns/~/taskInstances/list", `{"dag_ids": ["gw_two_tasks"]}`, http.StatusOK); tis["total_entries"] != float64(2) {
		t.Errorf("the batch list of task instances: %v", tis)
	}
	if log := r.call("GET", ti+"/extract/logs/1?full_content=true", "", http.StatusOK, "Accept", "application/json"); !strings.Contains(fmt.Sprint(log["content"]), "extracted 3 rows") {
		t.Errorf("the task's log as JSON: %.2000v", log)
	}
	text := r.send("GET", ti+"/extract/logs/1?full_content=true", "", http.StatusOK, "Accept", "text/plain")
	if !strings.Contains(string(text.Body), "extracted 3 rows") || !strings.HasPrefix(text.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("the task's log as text (%s): %.2000s", text.Header.Get("Content-Type"), text.Body)
	}
	if xs := r.call("GET", ti+"/extract/xcomEntries", "", http.StatusOK); xs["total_entries"] != float64(1) {
		t.Errorf("the XCom entries: %v", xs)
	}
	if x := r.call("GET", ti+"/extract/xcomEntries/return_value", "", http.StatusOK); fmt.Sprint(x["value"]) != "3" {
		t.Errorf("the XCom entry: %v", x)
	}
	if cleared := r.call("POST", "/api/v1/dags/gw_two_tasks/clearTaskInstances", `{"dry_run": true, "dag_run_id": "`+id+`", "only_failed": false}`, http.StatusOK); cleared["task_instances"] == nil {
		t.Errorf("clearTaskInstances: %v", cleared)
	}
	r.call("POST", "/api/v1/dags/gw_two_tasks/updateTaskInstancesState", `{"dry_run": true, "dag_run_id": "`+id+`", "task_id": "load", "new_state": "failed", "include_upstream": false, "include_downstream": false, "include_future": false, "include_past": false}`, http.StatusOK)
	r.call("POST", "/api/v1/dags/gw_two_tasks/dagRuns/"+id+"/clear", `{"dry_run": true}`, http.StatusOK)

	// Variables: POST sets one whether or not it exists, as v1's did.
	r.call("POST", "/api/v1/variables", `{"key": "rest_k", "value": "one"}`, http.StatusOK)
	r.call("POST", "/api/v1/variables", `{"key": "rest_k", "value": "two"}`, http.StatusOK)
	if v := r.call("GET", "/api/v1/variables/rest_k", "", http.StatusOK); v["value"] != "two" {
		t.Errorf("the variable: %v", v)
	}
	if got := strings.TrimSpace(home.Run(t, "variables", "get", "rest_k")); got != "two" {
		t.Errorf("the CLI reads the variable as %q", got)
	}
	r.call("GET", "/api/v1/variables", "", http.StatusOK)
	r.call("DELETE", "/api/v1/variables/rest_k", "", http.StatusNoContent)
	// Connections: a password goes in and never comes back.
	r.call("POST", "/api/v1/connections", `{"connection_id": "rest_conn", "conn_type": "postgres", "host": "db.example", "login": "u", "password": "rest-secret"}`, http.StatusOK)
	if conn := r.send("GET", "/api/v1/connections/rest_conn", "", http.StatusOK); strings.Contains(string(conn.Body), "rest-secret") {
		t.Errorf("a connection's password came back: %s", conn.Body)
	}
	r.call("GET", "/api/v1/connections/rest_conn", "", http.StatusOK)
	if conn := r.call("PATCH", "/api/v1/connections/rest_conn?update_mask=host", `{"connection_id": "rest_conn", "conn_type": "postgres", "host": "db2.example"}`, http.StatusOK); conn["host"] != "db2.example" {
		t.Errorf("a connection's host changed: %v", conn)
	}
	r.call("GET", "/api/v1/connections", "", http.StatusOK)
	r.call("DELETE", "/api/v1/connections/rest_conn", "", http.StatusNoContent)
	// Pools.
	r.call("POST", "/api/v1/pools", `{"name": "rest_pool", "slots": 3}`, http.StatusOK)
	if p := r.call("GET", "/api/v1/pools/rest_pool", "", http.StatusOK); p["slots"] != float64(3) {
		t.Errorf("the pool: %v", p)
	}
	if p := r.call("PATCH", "/api/v1/pools/rest_pool?update_mask=slots", `{"name": "rest_pool", "slots": 5}`, http.StatusOK); p["slots"] != float64(5) {
		t.Errorf("the pool changed: %v", p)
	}
	r.call("GET", "/api/v1/pools", "", http.StatusOK)
	r.call("DELETE", "/api/v1/pools/rest_pool", "", http.StatusNoContent)
	// Health, version, import errors and datasets.
	if h := r.call("GET", "/api/v1/health", "", http.StatusOK); h["metadatabase"] == nil {
		t.Errorf("health: %v", h)
	}
	r.call("GET", "/api/v1/version", "", http.StatusOK)
	r.call("GET", "/api/v1/importErrors", "", http.StatusOK)
	r.call("GET", "/api/v1/datasets", "", http.StatusOK)

	// Errors keep v1's shape and status: a bad date is 400, not v2's 422; what does not exist is 404.
	bad := r.call("POST", "/api/v1/dags/gw_conf/dagRuns", `{"logical_date": "yesterday"}`, http.StatusBadRequest)
	if bad["status"] != float64(400) || bad["title"] == nil || bad["detail"] == nil {
		t.Errorf("a bad date: %v", bad)
	}
	r.call("GET", "/api/v1/dags/no_such_dag", "", http.StatusNotFound)
	r.call("GET", "/api/v1/variables/no_such_key", "", http.StatusNotFound)
	return r
}

// gatewayOnly runs what only the gateway answers: Basic with an Airflow user's own password on Airflow 3,
// the managed service's example with a login token, and the api client.
func gatewayOnly(t *testing.T, c *testbed.Client, home *testbed.Home, api *testbed.AirflowAPI) {
	var version struct{ Version string }
	if c.Do(t, "GET", "/api/v1/version", nil).Decode(t, &version); !strings.HasPrefix(version.Version, fmt.Sprintf("%d.", api.Major)) {
		t.Errorf("the version through the gateway: %q", version.Version)
	}
	// An Airflow user's own name and password (HTTP Basic) act as that user; a wrong one is Airflow's 401.
	viewer := &testbed.Client{URL: c.URL}
	a := viewer.Do(t, "GET", "/api/v1/dags?limit=1", nil, "Authorization", basic(api.Users["Viewer"], api.Password("Viewer")))
	if a.Status != http.StatusOK {
		t.Errorf("Basic as the Viewer user: %d %s", a.Status, a.Body)
	}
	a = viewer.Do(t, "GET", "/api/v1/dags?limit=1", nil, "Authorization", basic(api.Users["Viewer"], "wrong"))
	if a.Status != http.StatusUnauthorized {
		t.Errorf("Basic with a wrong password: %d %s", a.Status, a.Body)
	}

	// The managed service's example, verbatim: the login token's URL followed with requests, the session
	// cookie read from the last answer, then the DAGs listed with it.
	minted := c.Mint(t, "10m", "Viewer")
	script := `
import sys, requests
login_url, base = sys.argv[1], sys.argv[2]
def get_session_cookie(login_url):
    response = requests.get(login_url)
    return response.cookies.get('session')
cookie = get_session_cookie(login_url)
if cookie is None:
    sys.exit("no session cookie")
response = requests.get(base + "/api/v1/dags", cookies={"session": cookie})
print(response.status_code, len(response.json()["dags"]))
`
	python := filepath.Join(filepath.Dir(home.Airflow), "python")
	out, err := exec.Command(python, "-c", script, minted.LoginURL, c.URL).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "200 ") {
		t.Errorf("the managed service's example: %v\n%s", err, out)
	}

	// The client: airflow-gateway api, as gh api, prints the JSON and exits non-zero on an error status.
	apiCmd := func(args ...string) (string, error) {
		cmd := exec.Command(testbed.GatewayBinary(t), append([]string{"api"}, args...)...)
		cmd.Env = append(os.Environ(), "AIRFLOW_GATEWAY_URL="+c.URL, "AIRFLOW_GATEWAY_TOKEN="+c.Token)
		out, err := cmd.Output()
		return string(out), err
	}
	if out, err := apiCmd("/api/v1/dags/gw_conf"); err != nil || !strings.Contains(out, `"dag_id": "gw_conf"`) {
		t.Errorf("airflow-gateway api /api/v1/dags/gw_conf: %v\n%s", err, out)
	}
	if out, err := apiCmd("-X", "PATCH", "-d", `{"is_paused": false}`, "dags/gw_conf"); err != nil || !strings.Contains(out, `"is_paused": false`) {
		t.Errorf("airflow-gateway api -X PATCH: %v\n%s", err, out)
	}
	if out, err := apiCmd("/api/v1/dags/no_such_dag"); err == nil || !strings.Contains(out, `"status": 404`) {
		t.Errorf("airflow-gateway api of a DAG that does not exist: %v\n%s", err, out)
	}
}

// v1Conforms validates an answer against v1.yaml.
func v1Conforms(method, target, body string, a *testbed.Answer) error {
	router, err := v1Document()
	if err != nil {
		return err
	}
	r, _ := http.NewRequest(method, target, strings.NewReader(body))
	route, params, err := router.FindRoute(r)
	if err != nil {
		return err
	}
	// Airflow 2.10 answers its errors as application/problem+json, which its own v1.yaml names
	// application/json: they are held to the document as that.
	header := a.Header.Clone()
	if header.Get("Content-Type") == "application/problem+json" {
		header.Set("Content-Type", "application/json")
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 a.Status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(a.Body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

func basic(user, password string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// realClients runs clients no one here wrote through the gateway on Airflow 3: Airflow 2's official
// Python client (apache-airflow-client 2.10, which speaks /api/v1 with HTTP Basic, neither of which
// Airflow 3 has), unchanged, and airflowctl, Airflow 3's own CLI over /api/v2, with a gateway token as its
// API token.
func realClients(t *testing.T, c *testbed.Client, api *testbed.AirflowAPI) {
	python := testbed.Tool(t, "AIRFLOW_GATEWAY_TEST_AIRFLOW_CLIENT", "Airflow 2's Python client")
	script := `
import sys
import airflow_client.client as client
from airflow_client.client.api import dag_api, dag_run_api, variable_api
from airflow_client.client.model.dag_run import DAGRun
from airflow_client.client.model.variable import Variable
base, user, password = sys.argv[1:4]
conf = client.Configuration(host=base + "/api/v1", username=user, password=password)
with client.ApiClient(conf) as api:
    dags = dag_api.DAGApi(api).get_dags()
    assert any(d.dag_id == "gw_conf" for d in dags.dags), dags
    runs = dag_run_api.DAGRunApi(api)
    runs.post_dag_run("gw_conf", DAGRun(dag_run_id="client_run", conf={"a": 1}))
    run = runs.get_dag_run("gw_conf", "client_run")
    variable_api.VariableApi(api).post_variables(Variable(key="client_k", value="v"))
    print("ok", len(dags.dags), run.dag_run_id, run.conf)
`
	out, err := exec.Command(python, "-c", script, c.URL, api.Users["Admin"], api.Password("Admin")).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Errorf("Airflow 2's Python client through the gateway: %v\n%s", err, out)
	}

	ctl := testbed.Tool(t, "AIRFLOW_GATEWAY_TEST_AIRFLOWCTL", "airflowctl")
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "AIRFLOW_HOME="+home)
	login := exec.Command(ctl, "auth", "login", "--api-url", c.URL, "--api-token", c.Token, "--skip-keyring")
	login.Env = env
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("airflowctl auth login: %v\n%s", err, out)
	}
	list := exec.Command(ctl, "dags", "list", "--api-token", c.Token, "-o", "json")
	list.Env = env
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "gw_conf") {
		t.Errorf("airflowctl dags list through the gateway: %v\n%s", err, out)
	}

	// Last, as it deletes what it finds: schemathesis with Airflow 2.10's own v1.yaml against /api/v1 on
	// Airflow 3, a few examples per operation: whatever a v1 client sends, no 5xx.
	spec := filepath.Join(filepath.Dir(airflow2), "..")
	specs, _ := filepath.Glob(filepath.Join(spec, "lib", "python3*", "site-packages", "airflow", "api_connexion", "openapi", "v1.yaml"))
	if len(specs) == 1 {
		st := exec.Command(testbed.Schemathesis(t), "run", specs[0], "--url", c.URL+"/api/v1", "--checks", "not_a_server_error",
			"--max-examples", "2", "--seed", "1", "--workers", "2", "--phases", "examples,fuzzing", "--max-redirects", "0",
			"--exclude-method", "DELETE", // Airflow 3.3.2 itself answers 500 to some deletes of fresh runs
			"-H", "Authorization: Bearer "+c.Token)
		st.Env = append(os.Environ(), "NO_COLOR=1")
		st.Dir = t.TempDir()
		if out, err := st.CombinedOutput(); err != nil {
			t.Errorf("schemathesis with Airflow 2.10's v1.yaml against /api/v1 on Airflow 3 (%v):\n%s", err, out)
		} else if m := regexp.MustCompile(`(\d+) generated`).FindSubmatch(out); m != nil {
			t.Logf("schemathesis with v1.yaml: %s generated requests, no 5xx", m[1])
		} else {
			t.Logf("schemathesis with v1.yaml:\n%s", out)
		}
	} else {
		t.Errorf("no v1.yaml in the Airflow 2 of the test bed")
	}
}
