package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/gateway"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// teamAToken is an Admin token scoped to team A's DAGs: by id and by tag.
const teamAToken = "team-a-token-0123456789"

// scopedGateway serves a gateway with the Admin token and teamAToken (dags team_a_*, tags team-a), whose
// DAG index tags b_shared with team-a and b_other with team-b.
func scopedGateway(t *testing.T, ex *scriptedExecutor) (admin, teamA *testbed.Client, log *bytes.Buffer) {
	t.Helper()
	srv, _, log := scopedServer(t, ex)
	return client(srv), client(srv).As(teamAToken), log
}

// scopedServer serves the gateway of scopedGateway, and returns it.
func scopedServer(t *testing.T, ex *scriptedExecutor) (*httptest.Server, *gateway.Server, *bytes.Buffer) {
	t.Helper()
	scope, err := commands.NewScope([]string{"team_a_*"}, []string{"team-a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := gateway.NewKeyring("rest_api_plugin_http_token")
	keys.SignSessions([]byte("test-session-key-0123456789"), false)
	if err := keys.SetTokens([]gateway.Token{
		{Name: "ci", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(token))},
		{Name: "team-a", Role: commands.RoleAdmin, SHA256: sha256.Sum256([]byte(teamAToken)), Scope: scope},
	}); err != nil {
		t.Fatal(err)
	}
	log := &bytes.Buffer{}
	srv, gw := mustGateway(t, ex, commands.Options{}, withKeyring(keys), withLog(slog.NewJSONHandler(log, nil)), withDAGIndex(
		commands.DAGInfo{ID: "team_a_etl"}, commands.DAGInfo{ID: "b_shared", Tags: []string{"team-a", "team-b"}}, commands.DAGInfo{ID: "b_other", Tags: []string{"team-b"}}))
	return srv, gw, log
}

func TestScopeDecidesBeforeAnythingRuns(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "done\n"}}
	_, teamA, log := scopedGateway(t, ex)
	for _, tt := range []struct {
		line   string
		status int
		says   string
	}{
		{"dags trigger team_a_etl", 200, ""},
		{"dags trigger b_shared", 200, ""},
		{"tasks clear -y b_shared", 200, ""},
		{"version", 200, ""},
		{"dags trigger b_other", 403, `the DAG "b_other" is not in this credential's scope (dags team_a_*; tags team-a)`},
		{"dags trigger no_such_dag", 403, `the DAG "no_such_dag" is not in this credential's scope`},
		{"dags trigger --  b_other", 403, `"b_other"`},
		{"dags list-runs -- b_other", 403, `"b_other"`},
		{"pools list", 403, "is not about DAGs"},
		{"dags reserialize", 403, "acts on every DAG at once"},
		{"tasks clear -y -R team_a_etl", 403, "makes the DAG id a pattern"},
	} {
		t.Run(tt.line, func(t *testing.T) {
			before := ex.runs.Load()
			var doc struct {
				Stderr string `json:"stderr"`
				Detail string `json:"detail"`
			}
			a := teamA.Get(t, "/api/v1/command?command="+url.QueryEscape(tt.line)).Decode(t, &doc)
			if a.Status != tt.status || !strings.Contains(doc.Detail, tt.says) {
				t.Fatalf("%d %s, want %d saying %q", a.Status, a.Body, tt.status, tt.says)
			}
			if ran := ex.runs.Load() - before; (tt.status == 200) != (ran == 1) {
				t.Errorf("%d commands ran", ran)
			}
		})
	}
	if !strings.Contains(log.String(), `"msg":"refused by scope"`) || !strings.Contains(log.String(), `"scope":"dags team_a_*; tags team-a"`) ||
		!strings.Contains(log.String(), `"reason":"out_of_scope"`) || !strings.Contains(log.String(), `"dags":["b_other"]`) {
		t.Errorf("no audit line of the refusals naming the scope:\n%s", log)
	}
}

func TestScopeInEveryDialect(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "done\n"}}
	admin, teamA, _ := scopedGateway(t, ex)
	plugin := teamA.Plugin()
	if a := plugin.Get(t, "/admin/rest_api/api?api=trigger_dag&dag_id=b_other"); a.Status != 403 || !strings.Contains(string(a.Body), `"status":"ERROR"`) ||
		!strings.Contains(string(a.Body), "not in this credential's scope") {
		t.Errorf("plugin, out of scope: %d %s", a.Status, a.Body)
	}
	if a := plugin.Get(t, "/admin/rest_api/api?api=trigger_dag&dag_id=team_a_etl"); a.Status != 200 {
		t.Errorf("plugin, in scope: %d %s", a.Status, a.Body)
	}
	var upload bytes.Buffer
	form := multipart.NewWriter(&upload)
	part, _ := form.CreateFormFile("dag_file", "team_a_new.py")
	part.Write([]byte("# a DAG file\n"))
	form.Close()
	if a := plugin.Do(t, http.MethodPost, "/admin/rest_api/api?api=deploy_dag", &upload, "Content-Type", form.FormDataContentType()); a.Status != 403 ||
		!strings.Contains(string(a.Body), "deploy_dag writes a file that may define any DAG") {
		t.Errorf("deploy_dag: %d %s", a.Status, a.Body)
	}
	a := teamA.Do(t, http.MethodPost, "/aws_mwaa/cli", strings.NewReader("dags pause b_other"), "Content-Type", "text/plain")
	if a.Status != 403 || !strings.Contains(string(a.Body), "not in this credential's scope") {
		t.Errorf("MWAA, out of scope: %d %s", a.Status, a.Body)
	}
	if a := teamA.Do(t, http.MethodPost, "/api/v1/jobs", strings.NewReader(`{"command": "dags test b_other"}`), asJSON...); a.Status != 403 {
		t.Errorf("job out of scope: %d %s", a.Status, a.Body)
	}
	if ex.runs.Load() != 1 {
		t.Errorf("%d commands ran, want the one in scope", ex.runs.Load())
	}
	var listing commands.Listing
	teamA.Get(t, "/api/v1/commands").Decode(t, &listing)
	for _, c := range listing.Commands {
		if !strings.HasPrefix(c.Path, "dags ") && !strings.HasPrefix(c.Path, "tasks ") && c.Path != "version" && c.Path != "cheat-sheet" && c.Path != "backfill create" {
			t.Errorf("a scoped credential is offered %s", c.Path)
		}
	}
	if a := teamA.Get(t, "/api/v1/variables"); a.Status != 403 || !strings.Contains(string(a.Body), "covers DAGs only") {
		t.Errorf("REST: %d %s", a.Status, a.Body)
	}
	metrics := admin.Get(t, "/metrics")
	for _, reason := range []string{"out_of_scope", "deploy", "rest_endpoint"} {
		if !strings.Contains(string(metrics.Body), `airflow_gateway_scope_refusals_total{reason="`+reason+`"}`) {
			t.Errorf("/metrics counts no refusal for %s", reason)
		}
	}
}

func TestJobsOfAScope(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "done\n"}}
	admin, teamA, _ := scopedGateway(t, ex)
	mine := teamA.StartJob(t, "dags trigger team_a_etl")
	theirs := admin.StartJob(t, "dags trigger b_other")
	var list struct {
		Jobs []testbed.JobDoc `json:"jobs"`
	}
	teamA.Get(t, "/api/v1/jobs").Decode(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != mine.ID {
		t.Errorf("a scoped credential lists %+v, want only its job %s", list.Jobs, mine.ID)
	}
	if a := teamA.Get(t, "/api/v1/jobs/"+theirs.ID); a.Status != 404 {
		t.Errorf("another's job out of scope: %d %s", a.Status, a.Body)
	}
}

func TestMintedTokensNarrowTheirScope(t *testing.T) {
	ex := &scriptedExecutor{result: commands.Result{Stdout: "done\n"}}
	_, teamA, _ := scopedGateway(t, ex)
	mint := func(body string) *testbed.Answer {
		return teamA.Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(body), asJSON...)
	}
	for _, wider := range []string{`{"dags": ["*"]}`, `{"dags": ["team_*"]}`, `{"tags": ["team-b"]}`, `{"teams": ["team_a"]}`, `{"dags": ["team_a_[x]*"]}`} {
		if a := mint(wider); a.Status != 403 || !strings.Contains(string(a.Body), "may only narrow it") {
			t.Errorf("minting %s: %d %s, want 403", wider, a.Status, a.Body)
		}
	}
	if a := mint(`{"dags": [""]}`); a.Status != 400 {
		t.Errorf("an empty line: %d %s", a.Status, a.Body)
	}
	var minted struct {
		Token string `json:"token"`
		Scope struct {
			DAGs []string `json:"dags"`
			Tags []string `json:"tags"`
		} `json:"scope"`
	}
	if a := mint(`{"dags": ["team_a_etl"]}`).Decode(t, &minted); a.Status != 201 || len(minted.Scope.DAGs) != 1 || len(minted.Scope.Tags) != 0 {
		t.Fatalf("narrowing: %d %s", a.Status, a.Body)
	}
	narrow := teamA.As(minted.Token)
	for line, status := range map[string]int{"dags trigger team_a_etl": 200, "dags trigger b_shared": 403, "dags trigger team_a_other": 403} {
		if a := narrow.Get(t, "/api/v1/command?command="+url.QueryEscape(line)); a.Status != status {
			t.Errorf("minted %s: %d %s, want %d", line, a.Status, a.Body, status)
		}
	}
	// A token minted without a scope keeps its parent's, and so does the session of a login.
	var kept struct {
		Token string `json:"token"`
	}
	mint(`{"ttl": "1h"}`).Decode(t, &kept)
	session := teamA.As(kept.Token).Login(t)
	if a := session.Get(t, "/api/v1/command?command="+url.QueryEscape("dags trigger b_other")); a.Status != 403 {
		t.Errorf("the session of a scoped minted token: %d %s", a.Status, a.Body)
	}
	if a := session.Get(t, "/api/v1/command?command="+url.QueryEscape("dags trigger b_shared")); a.Status != 200 {
		t.Errorf("the session of a scoped minted token, in scope: %d %s", a.Status, a.Body)
	}
}

func TestScopedAdminPageOffersOnlyWhatTheScopeLetsRun(t *testing.T) {
	ex := &scriptedExecutor{}
	_, teamA, _ := scopedGateway(t, ex)
	page := string(teamA.Login(t).Get(t, "/admin/rest_api/").Body)
	for _, want := range []string{`id="scope"`, "dags team_a_*; tags team-a", `data-api="trigger_dag"`, `data-api="list_dags"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	for _, not := range []string{`data-api="deploy_dag"`, `data-api="variables"`, `data-api="pool"`} {
		if strings.Contains(page, not) {
			t.Errorf("the page offers %s to a scoped credential", not)
		}
	}
	_, withheld, _ := strings.Cut(page, `id="withheld"`)
	withheld, _, _ = strings.Cut(withheld, "</p>")
	if !strings.Contains(withheld, "deploy_dag") || !strings.Contains(withheld, "reach beyond the DAGs of the scope") {
		t.Errorf("withheld: %q", withheld)
	}
}

func TestMintedTokenStopsWhenItsParentsScopeNarrowsBelowIt(t *testing.T) {
	wide, _ := commands.NewScope([]string{"team_a_*"}, nil, nil)
	narrow, _ := commands.NewScope([]string{"team_a_etl"}, nil, nil)
	keys := gateway.NewKeyring("rest_api_plugin_http_token")
	keys.SignSessions([]byte("test-session-key-0123456789"), false)
	parent := gateway.Token{Name: "team-a", Role: commands.RoleUser, SHA256: sha256.Sum256([]byte(teamAToken)), Scope: wide}
	if err := keys.SetTokens([]gateway.Token{parent}); err != nil {
		t.Fatal(err)
	}
	teamA := client(mustServer(t, &scriptedExecutor{}, commands.Options{}, withKeyring(keys))).As(teamAToken)
	report := teamA.As(teamA.MintWith(t, map[string]any{"dags": []string{"team_a_report"}}).Token)
	etl := teamA.As(teamA.MintWith(t, map[string]any{"dags": []string{"team_a_etl"}}).Token)
	parent.Scope = narrow
	if err := keys.SetTokens([]gateway.Token{parent}); err != nil {
		t.Fatal(err)
	}
	if a := report.Get(t, "/api/v1/command?command=version"); a.Status != http.StatusUnauthorized {
		t.Errorf("a minted token beyond its parent's new scope: %d %s, want 401", a.Status, a.Body)
	}
	if a := etl.Get(t, "/api/v1/command?command=version"); a.Status != http.StatusOK {
		t.Errorf("a minted token within its parent's new scope: %d %s", a.Status, a.Body)
	}
}

// TestRESTUnderAScope: what a scoped credential's REST calls become, on each API and Airflow, as a fake
// Airflow sees them (what a real one answers is TestRESTAPIAgainstAirflow's): a DAG out of scope and an
// endpoint not about DAGs are refused in the shape of the API called, and nothing reaches Airflow; a DAG
// in scope goes as it is; a listing of DAG ids asks for the scope's; a listing is read from its first page.
func TestRESTUnderAScope(t *testing.T) {
	for _, major := range []int{2, 3} {
		t.Run(fmt.Sprintf("airflow-%d", major), func(t *testing.T) {
			srv, gw, log := scopedServer(t, &scriptedExecutor{})
			a := newRecordingAirflow(t, time.Hour)
			serveAirflowAPI(t, gw, a, major)
			teamA := client(srv).As(teamAToken)
			v2 := "/api/v1"
			if major == 3 {
				v2 = "/api/v2"
			}
			for _, tt := range []struct {
				method, path, body string
				status             int
				says               string // in the refusal
				sent               string // the path Airflow got, and its query or body
			}{
				{"GET", "/api/v1/dags/b_other", "", 403, `the DAG \"b_other\" is not in this credential's scope (dags team_a_*; tags team-a)`, ""},
				{"GET", "/api/v1/dags/no_such_dag/details", "", 403, `the DAG \"no_such_dag\" is not in this credential's scope`, ""},
				{"GET", "/api/v1/dags/b%5Fother", "", 403, "b_other", ""},
				{"GET", "/api/v1/dags/team_a_etl%2F..%2Fb_other", "", 400, "encoded slash", ""},
				{"GET", "/api/v1/dags/team_a_etl/../b_other", "", 400, "plain path", ""},
				{"GET", "/api/v1/dags/team_a_etl/", "", 403, "not known to stay within", ""},
				{"GET", "/api/v1/Dags/team_a_etl", "", 403, "not known to stay within", ""},
				{"DELETE", "/api/v1/dags/~", "", 403, "with ~ for its DAG id reaches every DAG", ""},
				{"PATCH", "/api/v1/dags?dag_id_pattern=team_a", `{"is_paused": true}`, 403, "acts on every DAG", ""},
				{"GET", "/api/v1/variables", "", 403, "covers DAGs only", ""},
				{"POST", "/api/v1/pools", `{"name": "p", "slots": 1}`, 403, "covers DAGs only", ""},
				{"GET", "/api/v1/dags/team_a_etl", "", 200, "", v2 + "/dags/team_a_etl"},
				{"GET", "/api/v1/dags/b%5Fshared", "", 200, "", v2 + "/dags/b_shared"},
				{"POST", "/api/v1/dags/~/dagRuns/list", `{"page_limit": 5}`, 200, "", v2 + `/dags/~/dagRuns/list {"dag_ids":["b_shared","team_a_etl"],"page_limit":5}`},
				{"POST", "/api/v1/dags/~/dagRuns/list", `{"dag_ids": ["b_other"]}`, 403, "b_other", ""},
				{"GET", "/api/v1/dags?limit=2&offset=4", "", 200, "", v2 + "/dags limit=100&offset=0"},
			} {
				t.Run(tt.method+" "+tt.path, func(t *testing.T) {
					before := len(a.seen)
					var body *strings.Reader
					if tt.body != "" {
						body = strings.NewReader(tt.body)
					}
					var answer *testbed.Answer
					if body != nil {
						answer = teamA.Do(t, tt.method, tt.path, body, asJSON...)
					} else {
						answer = teamA.Do(t, tt.method, tt.path, nil)
					}
					if answer.Status != tt.status || !strings.Contains(string(answer.Body), tt.says) {
						t.Fatalf("%d %s, want %d saying %s", answer.Status, answer.Body, tt.status, tt.says)
					}
					if tt.status >= 400 {
						if answer.Header.Get("Content-Type") != "application/problem+json" {
							t.Errorf("a refusal of /api/v1 as %s", answer.Header.Get("Content-Type"))
						}
						if len(a.seen) != before {
							t.Errorf("Airflow was sent %s", a.last().URL)
						}
						return
					}
					got := a.last()
					sent := got.URL.Path
					if got.URL.RawQuery != "" {
						sent += " " + got.URL.RawQuery
					}
					if got.Body != nil {
						data, _ := io.ReadAll(got.Body)
						if s := strings.TrimSpace(string(data)); s != "" {
							sent += " " + s
						}
					}
					if sent != tt.sent {
						t.Errorf("Airflow got %s, want %s", sent, tt.sent)
					}
				})
			}
			if major == 3 {
				var doc struct{ Detail string }
				if answer := teamA.Get(t, "/api/v2/dags/b_other").Decode(t, &doc); answer.Status != 403 || !strings.Contains(doc.Detail, "b_other") {
					t.Errorf("/api/v2 out of scope: %d %s", answer.Status, answer.Body)
				}
				if answer := teamA.Get(t, "/api/v2/dagStats"); answer.Status != 200 || a.last().URL.RawQuery != "dag_ids=b_shared&dag_ids=team_a_etl" {
					t.Errorf("/api/v2/dagStats: %d, Airflow got ?%s", answer.Status, a.last().URL.RawQuery)
				}
			}
			if !strings.Contains(log.String(), `"reason":"rest_endpoint"`) {
				t.Errorf("no audit line of a refused endpoint:\n%s", log)
			}
		})
	}
}
