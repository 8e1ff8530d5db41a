package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// Tokens of TestScopesAgainstAirflow's tokens file: team A's (User: dags team_a_*, tags team-a, teams
// team_a) and team B's (Viewer: tags team-b).
const (
	scopeTokenA = "team-a-scope-token-0123456789"
	scopeTokenB = "team-b-scope-token-0123456789"
)

// TestScopesAgainstAirflow runs scoped tokens through every CLI dialect on a real Airflow, with the DAGs of
// testbed/gw_teams.py beside the example DAGs; on Airflow 3.3 the home is in multi-team mode, gw_conf in a
// bundle of team_a and gw_fails in one of team_b, so that team A's teams line reaches gw_conf there. In
// scope, commands run; out of scope they are refused in the dialect's shape and nothing runs (Airflow's
// own log table has no line of them); listings show exactly the scope's DAGs in every format; a DAG
// retagged moves into the scope at the next read of the DAG index.
func TestScopesAgainstAirflow(t *testing.T) {
	testbed.SkipShort(t, "scopes against a real Airflow")
	tokens := filepath.Join(t.TempDir(), "tokens.ini")
	var file strings.Builder
	// The admin is the plugin token, testToken, as mustServe has it.
	for _, tok := range []struct{ name, role, token, scope string }{
		{"team-a", "User", scopeTokenA, "dags = team_a_*\ntags = team-a\nteams = team_a\n"},
		{"team-b", "Viewer", scopeTokenB, "tags = team-b\n"},
	} {
		fmt.Fprintf(&file, "[%s]\nrole = %s\nsha256 = %x\n%s\n", tok.name, tok.role, sha256.Sum256([]byte(tok.token)), tok.scope)
	}
	if err := os.WriteFile(tokens, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, major := range testbed.Versions {
		t.Run("airflow-"+major, func(t *testing.T) {
			t.Parallel()
			home := testbed.MustHome(t, major, filepath.Join(testbed.Dir(), "gw_teams.py"))
			teamA := slices.Clone(teamADAGs)
			if major == "3" {
				testbed.MultiTeam(t, home, map[string]string{"gw_conf.py": "team_a", "gw_fails.py": "team_b"})
				teamA = append(teamA, "gw_conf")
			}
			slices.Sort(teamA)
			g := mustServe(t, testbed.Config{Home: home, TokensFile: tokens, SecretKey: "scope-test-secret-key-0123456789",
				DAGIndexRefresh: time.Second})
			waitWarm(t, g)
			waitForDAGIndex(t, g, 13)
			a, b := g.As(scopeTokenA), g.As(scopeTokenB)
			every := append(append(slices.Clone(teamADAGs), teamBDAGs...), "gw_conf", "gw_fails", "gw_two_tasks")

			t.Run("the command dialect", func(t *testing.T) {
				for _, line := range []string{"dags trigger team_a_extract -r scoped_a", "dags trigger shared_metrics", "dags pause team_a_load",
					"dags unpause team_a_load", "dags test team_a_report", "tasks clear -y team_a_extract", listRunsOf(major, "team_a_extract")} {
					if r := scopedCommand(t, a, line); r.Status != http.StatusOK || r.ExitCode != 0 {
						t.Errorf("%s in scope: %d exit %d %s %s", line, r.Status, r.ExitCode, r.Detail, tail(r.Stderr))
					}
				}
				for _, line := range []string{"dags trigger team_b_extract", "dags pause b_sidecar", "dags test gw_two_tasks", "tasks clear -y team_b_load",
					"dags trigger no_such_dag", listRunsOf(major, "team_b_audit"), "dags trigger --  team_b_report", "pools list", "dags reserialize"} {
					if r := scopedCommand(t, a, line); r.Status != http.StatusForbidden || !strings.Contains(r.Detail, "scope (dags team_a_*; tags team-a; teams team_a)") {
						t.Errorf("%s out of scope: %d %s", line, r.Status, r.Detail)
					}
				}
				if r := scopedCommand(t, b, "dags trigger team_b_extract"); r.Status != http.StatusForbidden || !strings.Contains(r.Detail, "needs role User") {
					t.Errorf("a Viewer's trigger in its scope: %d %s", r.Status, r.Detail)
				}
				if major == "3" {
					scopedCommand(t, a, "dags trigger gw_conf -r scoped_team") // team A's through its team's bundle
				}
				// Airflow's own log table: commands ran for team A's DAGs, none for the others.
				if n := strings.TrimSpace(home.SQL(t, "select count(*) from log where dag_id = 'team_a_extract'")); n == "0" {
					t.Errorf("Airflow's log names no command on team_a_extract: the check below proves nothing")
				}
				if n := strings.TrimSpace(home.SQL(t, "select count(*) from log where dag_id like 'team_b%' or dag_id in ('b_sidecar', 'gw_two_tasks', 'no_such_dag')")); n != "0" {
					t.Errorf("Airflow's log has %s lines of DAGs out of scope", n)
				}
			})

			t.Run("dags list in every format", func(t *testing.T) {
				for _, scoped := range []struct {
					c    *testbed.Client
					dags []string
				}{{a, teamA}, {b, teamBDAGs}} {
					var rows []struct {
						DagID string `json:"dag_id"`
					}
					r := scopedCommand(t, scoped.c, "dags list -o json")
					if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
						t.Fatalf("dags list -o json: %v %q", err, r.Stdout)
					}
					var ids []string
					for _, row := range rows {
						ids = append(ids, row.DagID)
					}
					slices.Sort(ids)
					if !slices.Equal(ids, scoped.dags) {
						t.Errorf("dags list -o json lists %v, want %v", ids, scoped.dags)
					}
					for _, format := range []string{"table", "plain", "yaml"} {
						out := scopedCommand(t, scoped.c, "dags list -o "+format).Stdout
						for _, id := range every {
							if shown := regexpWord(id).MatchString(out); shown != slices.Contains(scoped.dags, id) {
								t.Errorf("dags list -o %s shows %s: %v\n%s", format, id, shown, out)
							}
						}
					}
				}
			})

			t.Run("check", func(t *testing.T) {
				if major != "2" {
					t.Skip("the same on Airflow 3: once is enough")
				}
				var out strings.Builder
				checked := testbed.Config{Home: home, TokensFile: tokens, AirflowAPIURL: "http://127.0.0.1:9"}
				err := run(t.Context(), []string{"check", "--config", checked.File(t)}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
				for _, want := range []string{`\ntoken: +team-a, role User, scope dags team_a_\*; tags team-a; teams team_a: 5 of the 1[34] DAGs now\n`,
					`\ntoken: +team-b, role Viewer, scope tags team-b: 5 of the 1[34] DAGs now\n`} {
					if err != nil || !regexp.MustCompile(want).MatchString(out.String()) {
						t.Errorf("check: %v, want a line %s\n%s", err, want, out.String())
					}
				}
			})

			t.Run("the plugin dialect", func(t *testing.T) {
				if status, body := g.as(t, scopeTokenA, "/admin/rest_api/api?api=trigger_dag&dag_id=team_b_load"); status != http.StatusForbidden ||
					!strings.Contains(body, `"status":"ERROR"`) || !strings.Contains(body, "not in this credential's scope") {
					t.Errorf("trigger_dag out of scope: %d %s", status, body)
				}
				if status, body := g.as(t, scopeTokenA, "/admin/rest_api/api?api=trigger_dag&dag_id=team_a_load&run_id=scoped_plugin"); status != http.StatusOK {
					t.Errorf("trigger_dag in scope: %d %s", status, body)
				}
				if status, body := g.as(t, scopeTokenB, "/admin/rest_api/api?api=list_dags"); status != http.StatusOK || strings.Contains(body, "team_a_load") || !strings.Contains(body, "team_b_load") {
					t.Errorf("list_dags of team B: %d %s", status, body)
				}
			})

			t.Run("MWAA and the remote CLI", func(t *testing.T) {
				cli := a.Mint(t, "60s", "").Token
				if run := testbed.MWAAPipeline(t, g.URL, cli, "", "dags trigger team_b_load"); run.ExitCode == 0 || !strings.Contains(run.Stdout+run.Stderr, "scope") {
					t.Errorf("MWAA out of scope: %+v", run)
				}
				if run := testbed.MWAAPipeline(t, g.URL, cli, "", "dags trigger team_a_clean -r scoped_mwaa"); run.ExitCode != 0 || !strings.Contains(run.Stdout, "scoped_mwaa") {
					t.Errorf("MWAA in scope: %+v", run)
				}
				env := map[string]string{"AIRFLOW_GATEWAY_URL": g.URL, "AIRFLOW_GATEWAY_TOKEN": scopeTokenA, "XDG_CONFIG_HOME": t.TempDir()}
				remote := func(args ...string) ran {
					var stdout, stderr strings.Builder
					code := runClient(t.Context(), append([]string{"airflow-gateway", "run", "--"}, args...), func(k string) string { return env[k] },
						&stdout, &stderr, make(chan os.Signal))
					return ran{stdout.String(), stderr.String(), code}
				}
				if r := remote("dags", "trigger", "team_b_audit"); r.code == 0 || !strings.Contains(r.stderr, "not in this credential's scope") {
					t.Errorf("the remote CLI out of scope: %+v", r)
				}
				if r := remote("dags", "list", "-o", "plain"); r.code != 0 || !strings.Contains(r.stdout, "team_a_clean") || strings.Contains(r.stdout, "team_b_audit") {
					t.Errorf("the remote CLI's dags list: %+v", r)
				}
				// A token minted from team A's cannot widen the scope.
				if m := a.Do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"dags": ["team_b_*"]}`), "Content-Type", "application/json"); m.Status != http.StatusForbidden {
					t.Errorf("minting beyond the scope: %d %s", m.Status, m.Body)
				}
			})

			t.Run("jobs", func(t *testing.T) {
				mine := a.StartJob(t, "dags test team_a_clean")
				theirs := g.StartJob(t, "dags test team_b_report")
				if doc := waitJob(t, a, mine.ID); doc.State != "succeeded" {
					t.Errorf("team A's job: %+v", doc)
				}
				if doc := a.Job(t, http.MethodGet, "/api/v1/jobs/"+theirs.ID); doc.Status != http.StatusNotFound {
					t.Errorf("the admin's job of team B's DAG, seen by team A: %d", doc.Status)
				}
			})

			t.Run("a retagged DAG moves into the scope", func(t *testing.T) {
				moving := filepath.Join(home.Dags, "gw_moving.py")
				write := func(tag string) {
					src := strings.ReplaceAll(movingDAG, "TAG", tag)
					if err := os.WriteFile(moving, []byte(src), 0o644); err != nil {
						t.Fatal(err)
					}
					home.Run(t, "dags", "reserialize")
				}
				write("team-b")
				waitForDAGIndex(t, g, 14)
				if r := scopedCommand(t, a, "dags pause gw_moving"); r.Status != http.StatusForbidden {
					t.Fatalf("gw_moving, tagged team-b: %d %s", r.Status, r.Detail)
				}
				write("team-a")
				deadline := time.Now().Add(time.Minute)
				for r := scopedCommand(t, a, "dags pause gw_moving"); r.Status != http.StatusOK; r = scopedCommand(t, a, "dags pause gw_moving") {
					if time.Now().After(deadline) {
						t.Fatalf("gw_moving, retagged team-a a minute ago: %d %s", r.Status, r.Detail)
					}
					time.Sleep(200 * time.Millisecond)
				}
			})
		})
	}
}

// movingDAG is a DAG whose tag the retag test changes.
const movingDAG = `from datetime import datetime
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
with DAG(dag_id="gw_moving", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["TAG"]) as dag:
    pass
`

// scopedCommand runs line through the command dialect as c.
func scopedCommand(tb testing.TB, c *testbed.Client, line string) *commandAnswer {
	tb.Helper()
	var r commandAnswer
	answer := c.Get(tb, "/api/v1/command?command="+url.QueryEscape(line)).Decode(tb, &r)
	r.Status = answer.Status
	return &r
}

// listRunsOf lists a DAG's runs: 2.x names the DAG with -d, 3.x as a positional.
func listRunsOf(major, dag string) string {
	if major == "2" {
		return "dags list-runs -d " + dag
	}
	return "dags list-runs " + dag
}

// waitForDAGIndex waits until the gateway's DAG index holds at least n DAGs.
func waitForDAGIndex(tb testing.TB, g *gatewayClient, n int) {
	tb.Helper()
	var health struct {
		DAGIndex struct {
			DAGs int `json:"dags"`
		} `json:"dag_index"`
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		g.Get(tb, "/health").Decode(tb, &health)
		if health.DAGIndex.DAGs >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the DAG index holds %d DAGs a minute on, want %d", health.DAGIndex.DAGs, n)
		}
	}
}

// waitJob waits until the job has ended, as c sees it, and returns it.
func waitJob(tb testing.TB, c *testbed.Client, id string) *testbed.JobDoc {
	tb.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		doc := c.Job(tb, http.MethodGet, "/api/v1/jobs/"+id)
		if doc.State != "queued" && doc.State != "running" || time.Now().After(deadline) {
			return doc
		}
	}
}

// regexpWord matches a DAG id as a word of a listing: not as part of a longer id.
func regexpWord(id string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^A-Za-z0-9_.-])` + regexp.QuoteMeta(id) + `($|[^A-Za-z0-9_.-])`)
}
