// Package smoke_test runs the gateway on the Airflow releases it supports without running every suite on
// them: the oldest of each major and 2.11, the bridge release to Airflow 3. On each, the catalog the
// gateway reads at start is the one generate.py writes for the release (the repository's fixture); the
// most used call of each dialect works; Airflow's REST API answers through the gateway (a v1 listing and a
// trigger, translated to v2 on Airflow 3); a token scoped to one DAG triggers it, is refused another, and
// lists it alone; tokens that act as Airflow users (§20) get what Airflow's auth manager, or before Airflow 2.8
// FAB's security manager, gives their users, over REST and on the command dialect; connections are listed masked; a flag or a command the release lacks is refused before
// anything runs; the DAG index is read; and a gateway on the warm executor answers the commands used most
// as one on the subprocess executor does, on the same home. A package of its own, so that it runs beside
// the long suites.
package smoke_test

import (
	"bytes"
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

	"github.com/airflow-gateway/airflow-gateway/commands/commandstest"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

const token = "smoke-test-token-0123456789"

// lacking is, for each release, a command line with a flag the release does not have and what the
// refusal names, and a whitelisted command the release does not have with what the refusal names besides
// the release: what replaced it, where something did.
var lacking = map[string]struct{ flag, flagSays, path, pathSays string }{
	"2.6":  {"variables set smoke_k v --description d", "--description", "providers notifications", "providers notifications"},
	"2.11": {"dags trigger gw_conf --logical-date 2024-01-01", "--logical-date", "backfill create --dag-id gw_conf", "dags backfill"},
	"3.0":  {"variables list --hide-sensitive", "--hide-sensitive", "dags backfill gw_conf", "backfill create"},
}

func TestEveryRelease(t *testing.T) {
	for _, release := range testbed.SmokeVersions {
		t.Run("airflow-"+release, func(t *testing.T) {
			t.Parallel()
			home := testbed.MustHome(t, release)
			// Airflow's REST API on the same home, with the user of the token's role (Admin) alone: on Airflow
			// 2 every other user costs a run of its CLI.
			// (With the simple auth manager of Airflow 3 a user costs nothing: a viewer, whom a token acts as.)
			roles := []string{"Admin"}
			if strings.HasPrefix(release, "3.") {
				roles = append(roles, "Viewer")
			}
			api := testbed.StartAirflowAPIFor(t, home, roles)
			state := filepath.Join(t.TempDir(), "state")
			logs := &testbed.Buffer{}
			warmCfg := testbed.Config{Home: home, PluginToken: token, Executor: "warm", StateDir: state,
				SecretKey: "smoke-test-secret-key-0123456789", AirflowAPIURL: api.URL, AirflowAPIUsersFile: api.UsersFile(t)}
			people := personsOf(t, home, api, &warmCfg)
			_, base := testbed.GatewayProcess(t, warmCfg, logs)
			c := &testbed.Client{URL: base, Token: token}
			_, coldBase := testbed.GatewayProcess(t, testbed.Config{Home: home, PluginToken: token, Executor: "subprocess",
				StateDir: filepath.Join(t.TempDir(), "state")}, &testbed.Buffer{})
			cold := &testbed.Client{URL: coldBase, Token: token}

			// The catalog read at start is the release's own.
			cached, _ := filepath.Glob(filepath.Join(state, "catalog", "*.json"))
			if len(cached) != 1 {
				t.Fatalf("the catalog cache holds %v, want one catalog", cached)
			}
			got, err := os.ReadFile(cached[0])
			if err != nil {
				t.Fatal(err)
			}
			var cat struct {
				AirflowVersion string `json:"airflow_version"`
			}
			if err := json.Unmarshal(got, &cat); err != nil || !strings.HasPrefix(cat.AirflowVersion, release+".") {
				t.Fatalf("the cached catalog is of Airflow %q (%v), want %s.x", cat.AirflowVersion, err, release)
			}
			fixture := filepath.Join(testbed.Dir(), "..", "commands", "catalogs", "airflow-"+cat.AirflowVersion+".json")
			if want, err := os.ReadFile(fixture); err != nil || !bytes.Equal(got, want) {
				t.Errorf("the catalog the gateway read differs from %s (%v)", fixture, err)
			}
			testbed.WaitWarm(t, base, logs)
			// The DAG index's query works on the release: read through the warm executor's forkserver, and with
			// Airflow's Python on the subprocess executor.
			for name, url := range map[string]string{"warm": base, "subprocess": coldBase} {
				if index := testbed.WaitDAGIndex(t, url, logs); index.DAGs != 3 || index.Failures != 0 {
					t.Errorf("the DAG index of the gateway on the %s executor: %+v, want the home's 3 DAGs", name, index)
				}
			}
			warmAnswersLikeCold(t, release, cold, c)

			// The command dialect: dags list; a connection added, then listed masked.
			if a := command(t, c, "dags list -o json"); a.ExitCode != 0 || !strings.Contains(a.Stdout, "gw_conf") {
				t.Errorf("dags list: %+v", a)
			}
			command(t, c, "connections add smoke_c --conn-uri postgres://u:smoke-secret@db.example:5432/x")
			if a := command(t, c, "connections list"); a.ExitCode != 0 || !strings.Contains(a.Stdout, "smoke_c") || strings.Contains(a.Stdout, "smoke-secret") {
				t.Errorf("connections list, masked: %+v", a)
			}

			// The plugin dialect: trigger_dag with a conf.
			p := c.Plugin().Get(t, "/admin/rest_api/api?api=trigger_dag&dag_id=gw_conf&run_id=smoke_plugin&conf="+url.QueryEscape(`{"a": 1}`))
			if p.Status != http.StatusOK || !strings.Contains(string(p.Body), "smoke_plugin") {
				t.Errorf("the plugin's trigger_dag: %d %s", p.Status, p.Body)
			}

			// MWAA's pipeline: a trigger with a date, given as the release's CLI takes it.
			date := "-e 2024-05-01"
			if strings.HasPrefix(release, "3.") {
				date = "--logical-date 2024-05-01T00:00:00+00:00"
			}
			cli := c.Mint(t, "10m", "")
			if run := testbed.MWAAPipeline(t, base, cli.Token, "", "dags trigger gw_conf -r smoke_mwaa "+date); run.ExitCode != 0 || !strings.Contains(run.Stdout, "smoke_mwaa") {
				t.Errorf("MWAA's pipeline, dags trigger: %+v", run)
			}
			if states := command(t, c, "tasks states-for-dag-run gw_conf smoke_mwaa -o json"); states.ExitCode != 0 || !strings.Contains(states.Stdout, "show_conf") {
				t.Errorf("the run triggered through MWAA: %+v", states)
			}

			restV1(t, c, api)
			scopedDate := "-e 2024-06-01"
			if strings.HasPrefix(release, "3.") {
				scopedDate = "--logical-date 2024-06-01T00:00:00+00:00"
			}
			scoped(t, c.As(c.MintWith(t, map[string]any{"ttl": "10m", "dags": []string{"gw_conf"}}).Token), scopedDate)

			asPersons(t, release, home, base, people)

			// What the release lacks is refused, naming it, before anything runs.
			lacks := lacking[release]
			if a := command(t, c, lacks.flag); a.Status != http.StatusBadRequest || !strings.Contains(a.Detail, lacks.flagSays) {
				t.Errorf("%s on Airflow %s: %+v, want 400 naming %s", lacks.flag, release, a, lacks.flagSays)
			}
			if a := command(t, c, "variables get smoke_k"); a.ExitCode == 0 {
				t.Errorf("the variable was set by a command that was refused: %+v", a)
			}
			if a := command(t, c, lacks.path); a.Status != http.StatusBadRequest || !strings.Contains(a.Detail, cat.AirflowVersion) ||
				!strings.Contains(a.Detail, "`"+lacks.pathSays) {
				t.Errorf("%s on Airflow %s: %+v, want 400 naming the version and %s", lacks.path, release, a, lacks.pathSays)
			}
		})
	}
}

// scoped checks a token scoped to gw_conf: its trigger runs, another DAG's is refused before anything
// runs, and `dags list` shows its DAG alone, in JSON and as the release's table. date is the run's
// logical date as the release's CLI takes it (a run of its own: Airflow 2 refuses two runs of a DAG at
// one date, and the date would otherwise be now, that of another trigger of the suite).
func scoped(t *testing.T, c *testbed.Client, date string) {
	t.Helper()
	if a := command(t, c, "dags trigger gw_conf -r smoke_scoped "+date); a.Status != http.StatusOK || a.ExitCode != 0 {
		t.Errorf("a scoped token's trigger in scope: %+v", a)
	}
	if a := command(t, c, "dags trigger gw_fails -r smoke_scoped"); a.Status != http.StatusForbidden || !strings.Contains(a.Detail, "dags gw_conf") {
		t.Errorf("a scoped token's trigger out of scope: %+v, want 403 naming the scope", a)
	}
	a := command(t, c, "dags list -o json")
	var rows []struct {
		DagID string `json:"dag_id"`
	}
	if err := json.Unmarshal([]byte(a.Stdout), &rows); err != nil || len(rows) != 1 || rows[0].DagID != "gw_conf" {
		t.Errorf("a scoped token's dags list -o json: %v %+v", err, a)
	}
	if table := command(t, c, "dags list"); table.ExitCode != 0 || !strings.Contains(table.Stdout, "gw_conf") || strings.Contains(table.Stdout, "gw_fails") {
		t.Errorf("a scoped token's dags list: %+v", table)
	}
}

// smokePerson is a token that acts as an Airflow user (§20): the user, and whether Airflow lets it trigger.
type smokePerson struct {
	user, token string
	triggers    bool
}

// personsOf writes a tokens file into cfg with a token of role Admin per Airflow user the release's API
// server has (the admin, and on Airflow 3 the viewer) and one of a user Airflow does not know, and gives cfg
// what acting as them takes: on Airflow 3 the key the API server trusts, and the simple auth manager's
// users in airflow.cfg, where the gateway reads them; on Airflow 2 the users file's [user:NAME] sections.
func personsOf(t *testing.T, home *testbed.Home, api *testbed.AirflowAPI, cfg *testbed.Config) []smokePerson {
	t.Helper()
	people := []smokePerson{{api.Users["Admin"], "smoke-admin-person-0123456789", true}, {"nobody", "smoke-nobody-person-0123456789", false}}
	if viewer, ok := api.Users["Viewer"]; ok {
		people = append(people, smokePerson{viewer, "smoke-viewer-person-0123456789", false})
	}
	dir := t.TempDir()
	var tokens strings.Builder
	for _, p := range people {
		fmt.Fprintf(&tokens, "[%s]\nrole = Admin\nsha256 = %x\nairflow_user = %s\n\n", p.user, sha256.Sum256([]byte(p.token)), p.user)
	}
	cfg.TokensFile = filepath.Join(dir, "tokens.ini")
	files := map[string]string{cfg.TokensFile: tokens.String()}
	if api.Major >= 3 {
		home.SetConfig(t, "core", "simple_auth_manager_users", api.SimpleAuthManagerUsers())
		cfg.AirflowAPIJWTSecret = filepath.Join(dir, "jwt-secret")
		files[cfg.AirflowAPIJWTSecret] = testbed.JWTSecret
	} else {
		users, err := os.ReadFile(cfg.AirflowAPIUsersFile)
		if err != nil {
			t.Fatal(err)
		}
		files[cfg.AirflowAPIUsersFile] = fmt.Sprintf("%s\n[user:%s]\npassword = %s\n", users, api.Users["Admin"], api.Password("Admin"))
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return people
}

// asPersons checks tokens that act as Airflow users (§20) on the release: Airflow 3's simple auth manager,
// or before Airflow 2.8, FAB's security manager. Over REST, the admin's trigger runs as the admin and the
// others' are refused by Airflow or the gateway; on the command dialect, the admin's trigger runs and
// Airflow's event log names the admin as its owner,
// the others' are refused with 403 naming the user, and nothing runs.
func asPersons(t *testing.T, release string, home *testbed.Home, base string, people []smokePerson) {
	t.Helper()
	v3 := strings.HasPrefix(release, "3.")
	for i, p := range people {
		c := &testbed.Client{URL: base, Token: p.token}
		runID := fmt.Sprintf("smoke_person_rest_%d", i)
		body := fmt.Sprintf(`{"dag_run_id": %q, "execution_date": "2024-07-0%dT00:00:00+00:00"}`, runID, i+1)
		path := "/api/v1/dags/gw_conf/dagRuns"
		if v3 {
			body = fmt.Sprintf(`{"dag_run_id": %q, "logical_date": "2024-07-0%dT00:00:00+00:00"}`, runID, i+1)
			path = "/api/v2/dags/gw_conf/dagRuns"
		}
		a := c.Do(t, http.MethodPost, path, strings.NewReader(body), "Content-Type", "application/json")
		if p.triggers != (a.Status == http.StatusOK) || !p.triggers && a.Status != http.StatusForbidden {
			t.Errorf("REST as %s: POST %s answered %d %.300s", p.user, path, a.Status, a.Body)
		}

		date := fmt.Sprintf("-e 2024-08-0%d", i+1)
		if v3 {
			date = fmt.Sprintf("--logical-date 2024-08-0%dT00:00:00+00:00", i+1)
		}
		runID = fmt.Sprintf("smoke_person_cli_%d", i)
		r := command(t, c, "dags trigger gw_conf -r "+runID+" "+date)
		switch {
		case p.triggers && (r.Status != http.StatusOK || r.ExitCode != 0):
			t.Errorf("dags trigger as %s: %+v", p.user, r)
		case !p.triggers && (r.Status != http.StatusForbidden || !strings.Contains(r.Detail, `"`+p.user+`"`)):
			t.Errorf("dags trigger as %s: %+v, want 403 naming the user", p.user, r)
		}
		if n := strings.TrimSpace(home.SQL(t, "select count(*) from dag_run where run_id = '"+runID+"'")); n != map[bool]string{true: "1", false: "0"}[p.triggers] {
			t.Errorf("the trigger as %s made %s runs", p.user, n)
		}
		if p.triggers {
			if got := strings.TrimSpace(home.SQL(t, "select owner from log where event like '%trigger%' and extra like '%"+runID+"%'")); got != p.user {
				t.Errorf("Airflow's event log names %q for the trigger as %s", got, p.user)
			}
		}
	}
}

// restV1 sends the calls of Airflow 2's REST API that scripts make most through the gateway, as the
// caller's role's Airflow user: the DAGs listed, and a DAG triggered with a conf, whose run Airflow's CLI
// then reads. Airflow 3 answers them translated to /api/v2 and back.
func restV1(t *testing.T, c *testbed.Client, api *testbed.AirflowAPI) {
	t.Helper()
	failed := func(call string, a *testbed.Answer) {
		t.Helper()
		log := api.Logs.String()
		t.Errorf("%s: %d %.600s\nthe end of Airflow's log:\n%s", call, a.Status, a.Body, log[max(0, len(log)-3000):])
	}
	list := c.Get(t, "/api/v1/dags")
	if list.Status != http.StatusOK {
		failed("GET /api/v1/dags", list)
		return
	}
	type dag struct {
		DagID string `json:"dag_id"`
	}
	var dags struct {
		DAGs []dag `json:"dags"`
	}
	list.Decode(t, &dags)
	if !slices.ContainsFunc(dags.DAGs, func(d dag) bool { return d.DagID == "gw_conf" }) {
		t.Errorf("GET /api/v1/dags lists no gw_conf: %.600s", list.Body)
	}

	trigger := c.Do(t, http.MethodPost, "/api/v1/dags/gw_conf/dagRuns", strings.NewReader(`{"conf": {"smoke": "rest"}}`),
		"Content-Type", "application/json")
	if trigger.Status != http.StatusOK {
		failed("POST /api/v1/dags/gw_conf/dagRuns", trigger)
		return
	}
	var run struct {
		DagRunID string         `json:"dag_run_id"`
		Conf     map[string]any `json:"conf"`
	}
	trigger.Decode(t, &run)
	if run.DagRunID == "" || run.Conf["smoke"] != "rest" {
		t.Errorf("POST /api/v1/dags/gw_conf/dagRuns: no run id, or not the conf sent: %.600s", trigger.Body)
		return
	}
	if states := command(t, c, "tasks states-for-dag-run gw_conf "+run.DagRunID+" -o json"); states.ExitCode != 0 || !strings.Contains(states.Stdout, "show_conf") {
		t.Errorf("the run %s triggered through the REST API: %+v", run.DagRunID, states)
	}
}

// warmAnswersLikeCold runs groups of the commands used most through the gateway on the subprocess executor
// and then through the one on the warm executor, on one home, and compares the answers. {K} and {D} stand
// for a name and a date of each gateway's own, so that a group that writes leaves both the same state.
func warmAnswersLikeCold(t *testing.T, release string, cold, warm *testbed.Client) {
	t.Helper()
	date := "-e {D}"
	if strings.HasPrefix(release, "3.") {
		date = "--logical-date {D}"
	}
	groups := [][]string{
		{"version"}, {"dags list -o json"},
		{"variables set gw_{K} 'hello world'", "variables get gw_{K}", "variables delete gw_{K}"},
		{"connections add gw_{K} --conn-uri postgres://user:pw@db.example:5432/x", "connections list", "connections delete gw_{K}"},
		{`dags trigger gw_conf -r run_{K} -c '{"key": "value"}' ` + date, "tasks states-for-dag-run gw_conf run_{K} -o json"},
		{"pools set gw_{K} 7 'a test pool'", "pools list -o json", "pools delete gw_{K}"},
	}
	own := []struct {
		c      *testbed.Client
		values map[string]string
	}{
		{cold, map[string]string{"{K}": "cold", "{D}": "2024-03-01"}},
		{warm, map[string]string{"{K}": "warm", "{D}": "2024-03-02"}},
	}
	for _, g := range groups {
		answers := make([][]string, len(own))
		for i, o := range own {
			for _, line := range g {
				for k, v := range o.values {
					line = strings.ReplaceAll(line, k, v)
				}
				a := command(t, o.c, line)
				if a.Status != http.StatusOK || a.ExitCode != 0 {
					t.Errorf("%s: %d, exit code %d: %s %s", line, a.Status, a.ExitCode, a.Detail, a.Stderr)
				}
				text := fmt.Sprintf("%d exit %d\nstdout:\n%s\nstderr:\n%s", a.Status, a.ExitCode, a.Stdout, importWarning.ReplaceAllString(a.Stderr, ""))
				for k, v := range o.values {
					text = strings.ReplaceAll(text, v, k)
				}
				answers[i] = append(answers[i], commandstest.MaskRun(text))
			}
		}
		for j, line := range g {
			if answers[0][j] != answers[1][j] {
				t.Errorf("%s, warm:\n%s\ncold:\n%s", line, answers[1][j], answers[0][j])
			}
		}
	}
}

// importWarning is a warning that a release prints as Airflow is imported (2.11's RemovedInAirflow3Warning,
// 3.0's DeprecationWarning): the forkserver imports Airflow once, and prints it once, as it warms up.
var importWarning = regexp.MustCompile(`(?m)^/\S+\.py:\d+ \w*Warning: .*\n`)

// answer is the command dialect's answer.
type answer struct {
	Status   int
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Detail   string `json:"detail"`
}

func command(t *testing.T, c *testbed.Client, line string) answer {
	t.Helper()
	a := c.Get(t, "/api/v1/command?command="+url.QueryEscape(line))
	var doc answer
	a.Decode(t, &doc)
	doc.Status = a.Status
	return doc
}
