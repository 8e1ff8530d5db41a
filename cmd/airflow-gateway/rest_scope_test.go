package main

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/gateway/airflowapi"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// The scopes of scopedREST's tokens, and the DAGs of testbed/gw_teams.py each reaches.
var (
	teamADAGs = []string{"shared_metrics", "team_a_clean", "team_a_extract", "team_a_load", "team_a_report"}
	teamBDAGs = []string{"b_sidecar", "team_b_audit", "team_b_extract", "team_b_load", "team_b_report"}
)

// scopedREST runs Airflow's REST API through a gateway whose tokens have scopes, on the Airflow API server
// the REST test started: team A's token (dags team_a_*, tags team-a) and team B's (tags team-b). The
// gateway's DAG index is read from Airflow's own API with admin, the unscoped gateway's client.
func scopedREST(t *testing.T, admin *testbed.Client, home *testbed.Home, api *testbed.AirflowAPI) {
	const tokenA, tokenB = "team-a-rest-token-0123456789", "team-b-rest-token-0123456789"
	var all struct {
		DAGs []struct {
			DagID   string `json:"dag_id"`
			Fileloc string `json:"fileloc"`
			Tags    []struct{ Name string }
		} `json:"dags"`
	}
	admin.Get(t, "/api/v1/dags?limit=100").Decode(t, &all)
	var dags []commands.DAGInfo
	for _, d := range all.DAGs {
		info := commands.DAGInfo{ID: d.DagID, File: d.Fileloc}
		for _, tag := range d.Tags {
			info.Tags = append(info.Tags, tag.Name)
		}
		dags = append(dags, info)
	}
	keys := gateway.NewKeyring("rest_api_plugin_http_token")
	scopeA, _ := commands.NewScope([]string{"team_a_*"}, []string{"team-a"}, nil)
	scopeB, _ := commands.NewScope(nil, []string{"team-b"}, nil)
	if err := keys.SetTokens([]gateway.Token{
		{Name: "team-a", Role: commands.RoleUser, SHA256: sha256.Sum256([]byte(tokenA)), Scope: scopeA},
		{Name: "team-b", Role: commands.RoleUser, SHA256: sha256.Sum256([]byte(tokenB)), Scope: scopeB},
	}); err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.NewPolicy(commandstest.InstalledCatalog(t, home.Airflow), home.Dags), nil, commands.Options{MaxConcurrent: 1})
	svc.SetDAGIndex(commands.NewDAGIndex(dags), time.Now())
	gw, err := gateway.New(gateway.Options{Service: svc, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(api.URL)
	users := map[commands.Role]airflowapi.User{}
	for _, r := range []commands.Role{commands.RoleViewer, commands.RoleUser, commands.RoleOp, commands.RoleAdmin} {
		users[r] = airflowapi.User{Name: api.Users[r.String()], Password: api.Password(r.String())}
	}
	gw.SetAirflowAPI(airflowapi.New(base, api.Major, users, time.Minute), "")
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	teamA := &testbed.Client{URL: srv.URL, Token: tokenA}
	teamB := teamA.As(tokenB)

	// The DAGs each token sees, whole and page by page, with totals that agree; on Airflow 3 through v2 too.
	prefixes := []string{"/api/v1"}
	if api.Major >= 3 {
		prefixes = append(prefixes, "/api/v2")
	}
	for _, prefix := range prefixes {
		for _, tt := range []struct {
			c    *testbed.Client
			want []string
		}{{teamA, teamADAGs}, {teamB, teamBDAGs}} {
			if got, total := scopedDAGs(t, tt.c, prefix+"/dags"); !slices.Equal(got, tt.want) || total != len(tt.want) {
				t.Errorf("%s/dags as %s: %v (total_entries %d), want %v", prefix, tt.c.Token, got, total, tt.want)
			}
			var paged []string
			for offset := 0; offset < 6; offset += 2 {
				page, total := scopedDAGs(t, tt.c, fmt.Sprintf("%s/dags?limit=2&offset=%d", prefix, offset))
				if total != len(tt.want) || len(page) != min(2, max(0, len(tt.want)-offset)) {
					t.Errorf("%s/dags?limit=2&offset=%d: %v of %d", prefix, offset, page, total)
				}
				paged = append(paged, page...)
			}
			if !slices.Equal(paged, tt.want) {
				t.Errorf("%s/dags page by page: %v, want %v", prefix, paged, tt.want)
			}
		}
	}

	// A DAG out of scope is refused the same whether it exists or not; what is not about DAGs is refused.
	for _, path := range []string{"/api/v1/dags/team_b_load", "/api/v1/dags/no_such_dag", "/api/v1/dags/team_b_load/dagRuns",
		"/api/v1/dags/team%5Fb%5Fload", "/api/v1/variables", "/api/v1/pools", "/api/v1/connections", "/api/v1/config"} {
		if a := teamA.Get(t, path); a.Status != http.StatusForbidden || !strings.Contains(string(a.Body), "dags team_a_*; tags team-a") {
			t.Errorf("GET %s as team A: %d %s", path, a.Status, a.Body)
		}
	}
	if a := teamA.Do(t, "POST", "/api/v1/dags/team_b_load/dagRuns", strings.NewReader(`{}`), "Content-Type", "application/json"); a.Status != http.StatusForbidden {
		t.Errorf("a trigger out of scope: %d %s", a.Status, a.Body)
	}
	if a := teamA.Get(t, "/api/v1/dags/team_a_load"); a.Status != http.StatusOK {
		t.Errorf("a DAG in scope: %d %s", a.Status, a.Body)
	}

	// A trigger in scope runs, and the batch listing of runs shows it, and only runs in scope.
	if a := teamA.Do(t, "POST", "/api/v1/dags/team_a_report/dagRuns", strings.NewReader(`{"dag_run_id": "scoped_run"}`), "Content-Type", "application/json"); a.Status != http.StatusOK {
		t.Fatalf("a trigger in scope: %d %s", a.Status, a.Body)
	}
	if out := home.Run(t, append([]string{"dags", "list-runs"}, dagIDFlag(api.Major, "team_a_report")...)...); !strings.Contains(out, "scoped_run") {
		t.Errorf("Airflow's CLI does not list the run:\n%s", out)
	}
	admin.Do(t, "POST", "/api/v1/dags/team_b_load/dagRuns", strings.NewReader(`{"dag_run_id": "other_run"}`), "Content-Type", "application/json")
	var runs struct {
		Runs []struct {
			DagID string `json:"dag_id"`
		} `json:"dag_runs"`
		Total int `json:"total_entries"`
	}
	teamA.Do(t, "POST", "/api/v1/dags/~/dagRuns/list", strings.NewReader(`{}`), "Content-Type", "application/json").Decode(t, &runs)
	if runs.Total != 1 || len(runs.Runs) != 1 || runs.Runs[0].DagID != "team_a_report" {
		t.Errorf("the runs team A lists: %+v", runs)
	}
	if api.Major < 3 {
		teamA.Get(t, "/api/v1/dags/~/dagRuns").Decode(t, &runs)
		if runs.Total != 1 || len(runs.Runs) != 1 || runs.Runs[0].DagID != "team_a_report" {
			t.Errorf("the runs team A lists with GET: %+v", runs)
		}
	} else {
		teamA.Get(t, "/api/v2/dags/~/dagRuns").Decode(t, &runs)
		if runs.Total != 1 || len(runs.Runs) != 1 || runs.Runs[0].DagID != "team_a_report" {
			t.Errorf("the runs team A lists with v2's GET: %+v", runs)
		}
	}
	var stats struct {
		DAGs []struct {
			DagID string `json:"dag_id"`
		} `json:"dags"`
		Total int `json:"total_entries"`
	}
	stats.Total = -1
	if api.Major >= 3 {
		teamA.Get(t, "/api/v2/dagStats").Decode(t, &stats)
		// Airflow counts the DAGs that have runs: team A's one run.
		if stats.Total != 1 || len(stats.DAGs) != 1 || stats.DAGs[0].DagID != "team_a_report" {
			t.Errorf("/api/v2/dagStats: %+v", stats)
		}
	}
	// Event logs: only rows of DAGs in scope, none without a DAG.
	logs := "/api/v1/eventLogs"
	if api.Major >= 3 {
		logs = "/api/v2/eventLogs"
	}
	var events struct {
		Events []struct {
			DagID *string `json:"dag_id"`
		} `json:"event_logs"`
		Total int `json:"total_entries"`
	}
	teamA.Get(t, logs+"?limit=100").Decode(t, &events)
	for _, e := range events.Events {
		if e.DagID == nil || !(strings.HasPrefix(*e.DagID, "team_a_") || *e.DagID == "shared_metrics") {
			t.Errorf("team A sees an event of %v", e.DagID)
		}
	}
	if events.Total != len(events.Events) {
		t.Errorf("team A's event logs: %d rows of %d", len(events.Events), events.Total)
	}
	if a := teamA.Get(t, "/api/v1/importErrors"); a.Status != http.StatusOK || !strings.Contains(string(a.Body), `"total_entries":0`) && !strings.Contains(string(a.Body), `"total_entries": 0`) {
		t.Errorf("team A's import errors: %d %s", a.Status, a.Body)
	}

	// curl, and Airflow 2's official Python client, with team A's token.
	out, err := exec.Command("curl", "-sS", "-H", "Authorization: Bearer "+tokenA, srv.URL+"/api/v1/dags?limit=2&offset=4").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"team_a_report"`) || !strings.Contains(string(out), `"total_entries":5`) {
		t.Errorf("curl: %v\n%s", err, out)
	}
	python := testbed.Tool(t, "AIRFLOW_GATEWAY_TEST_AIRFLOW_CLIENT", "Airflow 2's Python client")
	script := `
import sys
import airflow_client.client as client
from airflow_client.client.api import dag_api, variable_api
base, token = sys.argv[1:3]
conf = client.Configuration(host=base + "/api/v1")
with client.ApiClient(conf, header_name="Authorization", header_value="Bearer " + token) as api:
    dags = dag_api.DAGApi(api).get_dags(limit=2, offset=2)
    try:
        dag_api.DAGApi(api).get_dag("team_b_load")
        sys.exit("team_b_load was answered")
    except client.ApiException as e:
        assert e.status == 403, e
    try:
        variable_api.VariableApi(api).get_variables()
        sys.exit("the variables were answered")
    except client.ApiException as e:
        assert e.status == 403, e
    print("ok", dags.total_entries, " ".join(d.dag_id for d in dags.dags))
`
	out, err = exec.Command(python, "-c", script, srv.URL, tokenA).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok 5 team_a_extract team_a_load" {
		t.Errorf("Airflow 2's Python client with a scoped token: %v\n%s", err, out)
	}
}

// scopedDAGs lists the DAGs a client sees at path, and the total Airflow's answer gives.
func scopedDAGs(t *testing.T, c *testbed.Client, path string) ([]string, int) {
	t.Helper()
	var doc struct {
		DAGs []struct {
			DagID string `json:"dag_id"`
		} `json:"dags"`
		Total int `json:"total_entries"`
	}
	if a := c.Get(t, path).Decode(t, &doc); a.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.Status, a.Body)
	}
	ids := []string{}
	for _, d := range doc.DAGs {
		ids = append(ids, d.DagID)
	}
	return ids, doc.Total
}

// dagIDFlag is how `dags list-runs` takes its DAG: -d on Airflow 2, a positional on 3.
func dagIDFlag(major int, id string) []string {
	if major < 3 {
		return []string{"-d", id}
	}
	return []string{id}
}
