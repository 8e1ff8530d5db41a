package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// cliPerson is a token of TestPersonsAgainstAirflow's tokens file that acts as an Airflow user.
type cliPerson struct{ name, user string }

func (p cliPerson) token() string { return "person-" + p.name + "-token-0123456789" }

// personsTokens writes a tokens file with a token of role Admin per person, acting as its Airflow user:
// the gateway's role lets everything, so that Airflow's permissions alone decide.
func personsTokens(t *testing.T, people []cliPerson) string {
	t.Helper()
	var file strings.Builder
	for _, p := range people {
		fmt.Fprintf(&file, "[%s]\nrole = Admin\nsha256 = %x\nairflow_user = %s\n\n", p.name, sha256.Sum256([]byte(p.token())), p.user)
	}
	path := filepath.Join(t.TempDir(), "tokens.ini")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// accessControlledDAG is a DAG that only the role "limited" may read and edit, besides Airflow's admins and
// the roles that reach every DAG (FAB's DAG-level access_control).
const accessControlledDAG = `from datetime import datetime
from airflow import DAG
with DAG(dag_id="gw_limited", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
         access_control={"limited": {"can_read", "can_edit"}}) as dag:
    pass
`

// TestPersonsAgainstAirflow runs tokens that act as Airflow users (§20) through the command, plugin and
// MWAA dialects on the warm executor: Airflow 3.3's simple auth manager in multi-team mode (users of roles
// viewer, user and op, and a user of team_a), and Airflow 2.10's FAB (Viewer, User, and a role that reaches
// one DAG through its access_control). Each gets what Airflow gives its user: what runs names the user as
// Airflow's triggering user and in its event log; what Airflow refuses is answered 403 naming the user,
// and nothing runs; listings show only the DAGs the user may read.
func TestPersonsAgainstAirflow(t *testing.T) {
	testbed.SkipShort(t, "Airflow's permissions against a real Airflow")
	t.Run("airflow-3 simple", func(t *testing.T) {
		t.Parallel()
		home := testbed.MustHome(t, "3", filepath.Join(testbed.Dir(), "gw_teams.py"))
		testbed.MultiTeam(t, home, map[string]string{"gw_conf.py": "team_a", "gw_fails.py": "team_b"})
		cfgFile := filepath.Join(home.Dir, "airflow.cfg")
		cfg, err := os.ReadFile(cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		users := "simple_auth_manager_users = viewer1:viewer,user1:user,op1:op,teamer:user:team_a\n"
		if err := os.WriteFile(cfgFile, []byte(strings.Replace(string(cfg), "[core]\n", "[core]\n"+users, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		viewer, user, op, teamer, ghost := cliPerson{"viewer", "viewer1"}, cliPerson{"user", "user1"}, cliPerson{"op", "op1"}, cliPerson{"teamer", "teamer"}, cliPerson{"ghost", "nobody"}
		g := mustServe(t, testbed.Config{Home: home, TokensFile: personsTokens(t, []cliPerson{viewer, user, op, teamer, ghost})})
		waitWarm(t, g)
		all := dagsListed(t, g.Client, "")

		t.Run("the command dialect", func(t *testing.T) {
			allowed(t, g, home, user, "dags trigger team_a_extract -r person_user1")
			allowed(t, g, home, teamer, "dags trigger gw_conf -r person_teamer")
			allowed(t, g, home, viewer, "dags details team_a_extract")
			allowed(t, g, home, op, "variables set person_key v")
			allowed(t, g, home, viewer, "config get-value core dags_folder")
			refused(t, g, home, viewer, "dags trigger team_a_extract", "is_authorized_dag with method PUT")
			refused(t, g, home, viewer, "dags pause team_a_load", "is_authorized_dag with method PUT")
			refused(t, g, home, user, "variables get person_key", "is_authorized_variable with method GET")
			refused(t, g, home, viewer, "dags delete -y team_a_load", "is_authorized_dag with method DELETE")
			refused(t, g, home, teamer, "dags trigger gw_fails", `the DAG "gw_fails"`)
			refused(t, g, home, ghost, "dags details team_a_extract", `knows no user "nobody"`)
			refused(t, g, home, user, "dags reserialize", "acts on every DAG at once")
			// Audited as refused by Airflow, and counted.
			if want := `msg="refused by Airflow" `; !strings.Contains(g.logs.String(), want) ||
				!strings.Contains(g.logs.String(), `airflow_user=viewer1 command="dags trigger" reason=dag method=PUT id=team_a_extract`) {
				t.Errorf("the log has no line of viewer1's trigger refused by Airflow:\n%s", g.logs)
			}
			if m := string(g.Get(t, "/metrics").Body); !strings.Contains(m, `airflow_gateway_airflow_refusals_total{reason="unknown_user"} 1`) {
				t.Errorf("/metrics counts no refusal of an unknown user")
			}
			if got := strings.TrimSpace(home.SQL(t, "select triggering_user_name from dag_run where run_id = 'person_user1'")); got != "user1" {
				t.Errorf("the run triggered as user1 names %q", got)
			}
			if got := strings.TrimSpace(home.SQL(t, "select triggering_user_name from dag_run where run_id = 'person_teamer'")); got != "teamer" {
				t.Errorf("the run triggered as teamer names %q", got)
			}
		})

		t.Run("listings", func(t *testing.T) {
			noTeam := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == "gw_fails" || id == "gw_conf" })
			if got := dagsListed(t, g.As(viewer.token()), ""); !slices.Equal(got, noTeam) {
				t.Errorf("viewer1, of no team, lists %v, want every DAG of no team %v", got, noTeam)
			}
			want := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == "gw_fails" })
			if got := dagsListed(t, g.As(teamer.token()), ""); !slices.Equal(got, want) {
				t.Errorf("teamer (team_a) lists %v, want %v", got, want)
			}
			if out := scopedCommand(t, g.As(teamer.token()), "dags list -o plain").Stdout; strings.Contains(out, "gw_fails") || !strings.Contains(out, "gw_conf") {
				t.Errorf("teamer's plain dags list:\n%s", out)
			}
		})

		t.Run("the plugin and MWAA dialects", func(t *testing.T) {
			if status, body := g.as(t, viewer.token(), "/admin/rest_api/api?api=trigger_dag&dag_id=team_a_load"); status != http.StatusForbidden ||
				!strings.Contains(body, `"status":"ERROR"`) || !strings.Contains(body, `\"viewer1\"`) {
				t.Errorf("trigger_dag as viewer1: %d %s", status, body)
			}
			if status, body := g.as(t, user.token(), "/admin/rest_api/api?api=trigger_dag&dag_id=team_a_load&run_id=person_plugin"); status != http.StatusOK {
				t.Errorf("trigger_dag as user1: %d %s", status, body)
			}
			if run := testbed.MWAAPipeline(t, g.URL, viewer.token(), "", "dags trigger team_a_clean"); run.ExitCode == 0 || !strings.Contains(run.Stdout+run.Stderr, "viewer1") {
				t.Errorf("MWAA as viewer1: %+v", run)
			}
			if run := testbed.MWAAPipeline(t, g.URL, user.token(), "", "dags trigger team_a_clean -r person_mwaa"); run.ExitCode != 0 {
				t.Errorf("MWAA as user1: %+v", run)
			}
			for _, run := range []string{"person_plugin", "person_mwaa"} {
				if got := strings.TrimSpace(home.SQL(t, "select triggering_user_name from dag_run where run_id = '"+run+"'")); got != "user1" {
					t.Errorf("the run %s names %q", run, got)
				}
			}
		})

		t.Run("Airflow's event log", func(t *testing.T) {
			if n := strings.TrimSpace(home.SQL(t, "select count(*) from log where owner = 'user1' and event like '%trigger%'")); n == "0" {
				t.Errorf("Airflow's event log names user1 in no trigger")
			}
			if n := strings.TrimSpace(home.SQL(t, "select count(*) from log where owner = 'viewer1' and event not like '%details%' and event not like '%get%value%' and event not like '%list%'")); n != "0" {
				t.Errorf("Airflow's event log has %s lines of commands refused to viewer1", n)
			}
		})
	})

	t.Run("airflow-2 FAB", func(t *testing.T) {
		t.Parallel()
		home := testbed.MustHome(t, "2", filepath.Join(testbed.Dir(), "gw_teams.py"))
		if err := os.WriteFile(filepath.Join(home.Dags, "gw_limited.py"), []byte(accessControlledDAG), 0o644); err != nil {
			t.Fatal(err)
		}
		home.Run(t, "dags", "reserialize")
		home.Run(t, "sync-perm") // FAB's roles
		home.Run(t, "roles", "create", "limited")
		for _, u := range [][2]string{{"viewer1", "Viewer"}, {"user1", "User"}, {"lim", "limited"}} {
			home.Run(t, "users", "create", "-u", u[0], "-r", u[1], "-e", u[0]+"@example.com", "-f", u[0], "-l", u[0], "-p", "not-used-0123")
		}
		home.Run(t, "sync-perm", "--include-dags")
		viewer, user, lim := cliPerson{"viewer", "viewer1"}, cliPerson{"user", "user1"}, cliPerson{"lim", "lim"}
		g := mustServe(t, testbed.Config{Home: home, TokensFile: personsTokens(t, []cliPerson{viewer, user, lim})})
		waitWarm(t, g)

		t.Run("the command dialect", func(t *testing.T) {
			allowed(t, g, home, user, "dags trigger team_a_extract -r person_user1")
			allowed(t, g, home, viewer, "dags details team_a_extract")
			allowed(t, g, home, lim, "dags trigger gw_limited -r person_lim")
			refused(t, g, home, viewer, "dags trigger team_a_extract", "is_authorized_dag with method PUT")
			refused(t, g, home, lim, "dags details team_a_extract", "is_authorized_dag with method GET")
			refused(t, g, home, user, "variables set k v", "is_authorized_variable with method POST")
			for run, who := range map[string]string{"person_user1": "user1", "person_lim": "lim"} {
				if got := strings.TrimSpace(home.SQL(t, "select owner from log where event like '%trigger%' and extra like '%"+run+"%'")); got != who {
					t.Errorf("Airflow's event log names %q for the trigger of %s", got, run)
				}
			}
		})

		t.Run("listings", func(t *testing.T) {
			if got := dagsListed(t, g.As(lim.token()), ""); !slices.Equal(got, []string{"gw_limited"}) {
				t.Errorf("lim lists %v, want only gw_limited", got)
			}
			if got, all := dagsListed(t, g.As(viewer.token()), ""), dagsListed(t, g.Client, ""); !slices.Equal(got, all) {
				t.Errorf("viewer1 lists %v, want every DAG %v", got, all)
			}
		})

		t.Run("check", func(t *testing.T) {
			// check asks Airflow's auth manager about each token's user, on the first DAG its scope reaches.
			tokens := filepath.Join(t.TempDir(), "tokens.ini")
			var file strings.Builder
			for _, tok := range []struct{ name, user, scope string }{{"lim", "lim", "dags = gw_limited\n"}, {"viewer", "viewer1", ""}, {"ghost", "nobody", ""}} {
				fmt.Fprintf(&file, "[%s]\nrole = Admin\nsha256 = %x\nairflow_user = %s\n%s\n", tok.name, sha256.Sum256([]byte(tok.name+"-check-token-0123456789")), tok.user, tok.scope)
			}
			if err := os.WriteFile(tokens, []byte(file.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			checked := testbed.Config{Home: home, TokensFile: tokens, AirflowAPIURL: "http://127.0.0.1:9"}
			err := run(t.Context(), []string{"check", "--config", checked.File(t)}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
			first := dagsListed(t, g.Client, "")[0]
			for _, want := range []string{
				"\n  airflow_user lim (token lim): exists; on gw_limited: read yes, edit yes, delete no\n",
				"\n  airflow_user viewer1 (token viewer): exists; on " + first + ": read yes, edit no, delete no\n",
				"\n  airflow_user nobody (token ghost): Airflow's auth manager knows no such user",
			} {
				if err != nil || !strings.Contains(out.String(), want) {
					t.Errorf("check: %v, want %q\n%s", err, want, out.String())
				}
			}
		})

		t.Run("MWAA", func(t *testing.T) {
			if run := testbed.MWAAPipeline(t, g.URL, lim.token(), "", "dags trigger team_a_clean"); run.ExitCode == 0 || !strings.Contains(run.Stdout+run.Stderr, `"lim"`) {
				t.Errorf("MWAA as lim: %+v", run)
			}
		})
	})
}

// allowed runs line as p through the command dialect and fails t unless it ran and succeeded.
func allowed(t *testing.T, g *gatewayClient, home *testbed.Home, p cliPerson, line string) {
	t.Helper()
	if r := scopedCommand(t, g.As(p.token()), line); r.Status != http.StatusOK || r.ExitCode != 0 {
		t.Errorf("%s as %s: %d exit %d %s %s", line, p.user, r.Status, r.ExitCode, r.Detail, tail(r.Stderr))
	}
}

// refused runs line as p through the command dialect and fails t unless it was refused with 403, naming the
// user and what Airflow refused.
func refused(t *testing.T, g *gatewayClient, home *testbed.Home, p cliPerson, line, why string) {
	t.Helper()
	if r := scopedCommand(t, g.As(p.token()), line); r.Status != http.StatusForbidden || !strings.Contains(r.Detail, why) || !strings.Contains(r.Detail, `"`+p.user+`"`) {
		t.Errorf("%s as %s: %d %s, want 403 naming %s", line, p.user, r.Status, r.Detail, why)
	}
}

// dagsListed returns the sorted DAG ids `dags list -o json` shows c.
func dagsListed(t *testing.T, c *testbed.Client, _ string) []string {
	t.Helper()
	r := scopedCommand(t, c, "dags list -o json")
	var rows []struct {
		DagID string `json:"dag_id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("dags list -o json: %d %v %q %s", r.Status, err, r.Stdout, r.Detail)
	}
	var ids []string
	for _, row := range rows {
		ids = append(ids, row.DagID)
	}
	slices.Sort(ids)
	return ids
}
