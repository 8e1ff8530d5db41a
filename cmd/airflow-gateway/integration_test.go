package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/testbed"
)

const testToken = "integration-token-0123456789"

// gatewayClient talks to one gateway with the test token, and remembers which command paths it ran, every
// answer it got and every line the gateway logged, so that a test can search them for planted secrets.
type gatewayClient struct {
	*testbed.Client
	home   *testbed.Home
	logs   *testbed.Buffer
	mu     sync.Mutex
	ran    map[string]bool // airflow_cmd of every command that ran
	bodies []string        // every answer's body, but those of the reads that show a secret on purpose
}

// newGatewayClient is a client of the gateway at url, on home, that logs to logs.
func newGatewayClient(url string, home *testbed.Home, logs *testbed.Buffer) *gatewayClient {
	return &gatewayClient{Client: &testbed.Client{URL: url, Token: testToken}, home: home, logs: logs, ran: map[string]bool{}}
}

// Secrets the integration tests plant: none may show in any answer or log line, but for the one read that
// shows the variable on purpose.
const (
	plantedVariable     = "planted-variable-secret-4711"
	plantedURIPassword  = "planted-uri-password-4711"
	plantedConnPassword = "planted-conn-password-4711"
)

// onPurpose tells the requests whose answers may show a planted secret: reading the api_key variable.
func onPurpose(request string) bool {
	return strings.Contains(request, "variables get api_key") || strings.Contains(request, "get=api_key")
}

// record keeps an answer's body for the secret search.
func (g *gatewayClient) record(request string, body []byte) {
	if onPurpose(request) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bodies = append(g.bodies, string(body))
}

// assertNoSecrets searches every answer and log line for the planted secrets and the tokens.
func (g *gatewayClient) assertNoSecrets(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	bodies := append([]string{}, g.bodies...)
	g.mu.Unlock()
	logs := strings.Split(g.logs.String(), "\n")
	if len(bodies) < 20 || len(logs) < 20 {
		t.Errorf("only %d answers and %d log lines were captured: the search would prove little", len(bodies), len(logs))
	}
	for _, secret := range []string{plantedVariable, plantedURIPassword, plantedConnPassword, testToken} {
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("an answer shows the secret %q: %s", secret, tail(b))
			}
		}
		for _, l := range logs {
			if strings.Contains(l, secret) {
				t.Errorf("a log line shows the secret %q: %s", secret, l)
			}
		}
	}
	t.Logf("searched %d answers and %d log lines for %d secrets", len(bodies), len(logs), 4)
}

// waitWarm waits until the gateway's warm executor takes commands, as /health tells.
func waitWarm(tb testing.TB, g *gatewayClient) {
	tb.Helper()
	testbed.WaitWarm(tb, g.URL, g.logs)
}

// commandAnswer is the command dialect's answer, success or problem.
type commandAnswer struct {
	Status     int
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	AirflowCmd string `json:"airflow_cmd"`
	Data       any    `json:"data"`
	Detail     string `json:"detail"`
}

// command runs one command line through GET /api/v1/command.
func (g *gatewayClient) command(tb testing.TB, line string) *commandAnswer {
	tb.Helper()
	answer := g.Get(tb, "/api/v1/command?command="+url.QueryEscape(line))
	g.record(line, answer.Body)
	var a commandAnswer
	answer.Decode(tb, &a)
	a.Status = answer.Status
	if a.AirflowCmd != "" {
		g.mu.Lock()
		g.ran[a.AirflowCmd] = true
		g.mu.Unlock()
	}
	return &a
}

// ok runs line and fails tb unless it ran and exited 0; it returns the answer.
func (g *gatewayClient) ok(tb testing.TB, line string) *commandAnswer {
	tb.Helper()
	a := g.command(tb, line)
	if a.Status != http.StatusOK || a.ExitCode != 0 {
		tb.Fatalf("%s: status %d, exit code %d, %s\nstdout: %s\nstderr: %s", line, a.Status, a.ExitCode, a.Detail, a.Stdout, tail(a.Stderr))
	}
	return a
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// dagIDs returns the dag_id fields of a JSON listing.
func dagIDs(data any) []string {
	var ids []string
	list, _ := data.([]any)
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			ids = append(ids, fmt.Sprint(m["dag_id"]))
		}
	}
	return ids
}

func field(data any, key string) string {
	if list, ok := data.([]any); ok && len(list) > 0 {
		data = list[0]
	}
	if m, ok := data.(map[string]any); ok {
		return fmt.Sprint(m[key])
	}
	return ""
}

// TestCommandDialectAgainstAirflow runs every whitelisted command path of each Airflow version through HTTP
// and checks what it did with the CLI.
func TestCommandDialectAgainstAirflow(t *testing.T) {
	forEachAirflow(t, testbed.Config{}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		v2 := major == "2"

		// listRuns lists a DAG's runs as JSON: 2.10 names the DAG with -d, 3.x as a positional.
		listRuns := func(dag string) string {
			if v2 {
				return "dags list-runs -d " + dag + " -o json"
			}
			return "dags list-runs " + dag + " -o json"
		}

		t.Run("version and configuration", func(t *testing.T) {
			// Versions and configuration.
			want := strings.TrimSpace(home.Run(t, "version"))
			if got := g.ok(t, "version").Stdout; strings.TrimSpace(got) != want {
				t.Errorf("version: %q, want %q", got, want)
			}
			g.ok(t, "airflow cheat-sheet")
			if got := strings.TrimSpace(g.ok(t, "config get-value core dags_folder").Stdout); got != home.Dags {
				t.Errorf("dags_folder: %q, want %q", got, home.Dags)
			}
			g.ok(t, "db check")
			if a := g.command(t, "jobs check --job-type SchedulerJob"); a.Status != http.StatusOK || a.ExitCode == 0 ||
				!strings.Contains(a.Stdout+a.Stderr, "No alive jobs") {
				t.Errorf("jobs check without a scheduler: status %d exit %d %q", a.Status, a.ExitCode, a.Stdout+a.Stderr)
			}
			// Without [airflow_api] url, the gateway asks Airflow's configuration for the API's URL once its
			// executor has settled, and serves the API there only if it answers: the test home leaves Airflow's
			// defaults, [webserver] base_url http://localhost:8080 on 2.x, where nothing answers, and no [api]
			// base_url on 3.x.
			var rest *testbed.Answer
			for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if rest = g.Get(t, "/api/v1/dags"); rest.Status != http.StatusServiceUnavailable {
					break
				}
			}
			why := "names no URL for it"
			if v2 {
				why = "names http://localhost:8080, where its API does not answer"
			}
			if rest.Status != http.StatusNotFound || !strings.Contains(string(rest.Body), why) {
				t.Errorf("Airflow's REST API with no url: %d %s, want 404 saying the configuration of Airflow %s", rest.Status, rest.Body, why)
			}
			// The DAG index, read once the executor has settled: /health says how large it is, and so does
			// `check`, which reads it with Airflow's Python (told of an API URL where nothing answers, which it
			// says and goes on).
			if index := testbed.WaitDAGIndex(t, g.URL, g.logs); index.DAGs != 3 || index.Failures != 0 {
				t.Errorf("the DAG index on /health: %+v, want the home's 3 DAGs", index)
			}
			var out strings.Builder
			checked := testbed.Config{Home: home, AirflowAPIURL: "http://127.0.0.1:9"}
			if err := run(t.Context(), []string{"check", "--config", checked.File(t)}, func(string) string { return "" },
				strings.NewReader(""), &out, &out); err != nil || !regexp.MustCompile(`\ndag_index: +3 DAGs, read in \d`).MatchString(out.String()) {
				t.Errorf("check: %v\n%s", err, out.String())
			}
		})

		t.Run("dags", func(t *testing.T) {
			// DAGs.
			ids := dagIDs(g.ok(t, "dags list -o json").Data)
			if strings.Join(ids, ",") != "gw_conf,gw_fails,gw_two_tasks" {
				t.Errorf("dags list: %v", ids)
			}
			g.ok(t, "dags list-import-errors")
			g.ok(t, "dags report -o json")
			if s := g.ok(t, "dags show gw_two_tasks").Stdout; !strings.Contains(s, "digraph") || !strings.Contains(s, "extract") {
				t.Errorf("dags show: %q", s)
			}
			g.ok(t, "dags unpause gw_conf")
			if p := field(g.ok(t, "dags details gw_conf -o json").Data, "is_paused"); !strings.EqualFold(p, "false") {
				t.Errorf("after unpause, is_paused = %q", p)
			}
			g.ok(t, "dags pause gw_conf")
			if p := field(g.ok(t, "dags details gw_conf -o json").Data, "is_paused"); !strings.EqualFold(p, "true") {
				t.Errorf("after pause, is_paused = %q", p)
			}
			trigger := `dags trigger gw_conf -r gw_run_1 -c '{"key": "value"}'`
			if v2 {
				trigger += " -e 2024-03-01T00:00:00+00:00"
			}
			g.ok(t, trigger)
			if runs := g.ok(t, listRuns("gw_conf")).Data; field(runs, "run_id") != "gw_run_1" {
				t.Errorf("list-runs after trigger: %v", runs)
			}
			state := "dags state gw_conf gw_run_1"
			if v2 {
				state = "dags state gw_conf 2024-03-01T00:00:00+00:00"
			}
			if s := g.ok(t, state).Stdout; !strings.Contains(s, "queued") {
				t.Errorf("dags state: %q", s)
			}
			g.ok(t, "dags next-execution gw_conf")
			g.ok(t, "dags list-jobs")
			g.ok(t, "dags reserialize")
		})

		t.Run("tasks", func(t *testing.T) {
			// Tasks.
			if s := g.ok(t, "tasks list gw_two_tasks").Stdout; !strings.Contains(s, "extract") || !strings.Contains(s, "load") {
				t.Errorf("tasks list: %q", s)
			}
			g.ok(t, "tasks state gw_conf show_conf gw_run_1")
			g.ok(t, "tasks states-for-dag-run gw_conf gw_run_1 -o json")
			g.ok(t, "tasks failed-deps gw_conf show_conf gw_run_1")
			g.ok(t, "tasks render gw_conf show_conf gw_run_1")
			if a := g.ok(t, "tasks test gw_two_tasks extract 2024-01-01"); !strings.Contains(a.Stdout+a.Stderr, "extracted 3 rows") {
				t.Errorf("tasks test output lacks the task's print: %q", tail(a.Stdout+a.Stderr))
			}
			// A failing task: Airflow 2.10's `tasks test` exits non-zero; 3.x's exits 0 and says so in its
			// log, while its `dags test` of the failing DAG exits non-zero. The gateway reports either as it is.
			failing := g.command(t, "tasks test gw_fails boom 2024-01-01")
			if failing.Status != http.StatusOK || !strings.Contains(failing.Stdout+failing.Stderr, "this task fails on purpose") {
				t.Errorf("failing task: status %d, output lacks the error: %q", failing.Status, tail(failing.Stdout+failing.Stderr))
			}
			if v2 && failing.ExitCode == 0 {
				t.Errorf("failing task test on 2.10: exit code 0")
			}
			if a := g.command(t, "dags test gw_fails 2024-01-03"); a.Status != http.StatusOK || a.ExitCode == 0 {
				t.Errorf("failing DAG test: status %d exit code %d", a.Status, a.ExitCode)
			}
			g.ok(t, "dags test gw_two_tasks 2024-01-02")
			g.ok(t, "tasks clear gw_conf -y")
		})

		t.Run("variables pools connections", func(t *testing.T) {
			// Variables, pools, connections.
			g.ok(t, "variables set gw_var 'hello world'")
			if s := g.ok(t, "variables get gw_var").Stdout; strings.TrimSpace(s) != "hello world" {
				t.Errorf("variables get: %q", s)
			}
			if s := g.ok(t, "variables list").Stdout; !strings.Contains(s, "gw_var") {
				t.Errorf("variables list: %q", s)
			}
			g.ok(t, "variables delete gw_var")
			if a := g.command(t, "variables get gw_var"); a.ExitCode == 0 {
				t.Errorf("variable still readable after delete: %q", a.Stdout)
			}
			g.ok(t, "pools set gw_pool 7 'a test pool'")
			if d := g.ok(t, "pools get gw_pool -o json").Data; field(d, "slots") != "7" || field(d, "description") != "a test pool" {
				t.Errorf("pools get: %v", d)
			}
			g.ok(t, "pools list -o json")
			g.ok(t, "pools delete gw_pool")
			g.ok(t, "connections add gw_conn --conn-uri postgres://user:"+plantedURIPassword+"@db.example:5432/x")
			g.ok(t, "connections add gw_conn2 --conn-type http --conn-host h.example --conn-password "+plantedConnPassword)
			if d := g.ok(t, "connections get gw_conn").Data; field(d, "conn_type") != "postgres" {
				t.Errorf("connections get: %v", d)
			}
			if s := g.ok(t, "connections list").Stdout; !strings.Contains(s, "gw_conn2") {
				t.Errorf("connections list: %q", s)
			}
			g.ok(t, "connections delete gw_conn")
			g.ok(t, "connections delete gw_conn2")
		})

		t.Run("sensitive variable", func(t *testing.T) {
			// A variable with a sensitive key: its value shows only where it is read on purpose.
			g.ok(t, "variables set api_key "+plantedVariable)
			if s := g.ok(t, "variables get api_key").Stdout; strings.TrimSpace(s) != plantedVariable {
				t.Errorf("variables get api_key: %q", s)
			}
			g.ok(t, "variables list")
		})

		t.Run("providers", func(t *testing.T) {
			// Providers.
			for _, sub := range []string{"list", "hooks", "links", "behaviours", "notifications", "secrets", "triggers", "widgets"} {
				g.ok(t, "providers "+sub)
			}
			g.ok(t, "providers get apache-airflow-providers-common-sql")
		})

		t.Run("backfill clean delete", func(t *testing.T) {
			// Backfill, cleaning, deleting.
			if v2 {
				g.ok(t, "dags backfill gw_conf -s 2024-01-01 -e 2024-01-01 --dry-run")
			} else {
				g.ok(t, "backfill create --dag-id gw_two_tasks --from-date 2024-01-01 --to-date 2024-01-01 --dry-run")
			}
			g.ok(t, "db clean --clean-before-timestamp 2000-01-01 --skip-archive -y")
			// The failing DAG's test run is on record until the DAG is deleted.
			if runs := dagIDs(g.ok(t, listRuns("gw_fails")).Data); len(runs) == 0 {
				t.Errorf("gw_fails has no runs before the delete: the check below would prove nothing")
			}
			g.ok(t, "dags delete gw_fails -y")
			if a := g.command(t, listRuns("gw_fails")); len(dagIDs(a.Data)) != 0 {
				t.Errorf("runs of the deleted DAG remain: %v", a.Data)
			}
		})

		// Every whitelisted path of this version ran at least once, and no secret showed.
		g.assertRanEveryPath(t)
		g.assertNoSecrets(t)
	})
}

// assertRanEveryPath compares the commands that ran with the whitelisted catalog the gateway lists.
func (g *gatewayClient) assertRanEveryPath(t *testing.T) {
	t.Helper()
	var listing struct {
		Commands []struct{ Path string } `json:"commands"`
	}
	g.Get(t, "/api/v1/commands").Decode(t, &listing)
	for _, c := range listing.Commands {
		found := false
		for cmd := range g.ran {
			if cmd == "airflow "+c.Path || strings.HasPrefix(cmd, "airflow "+c.Path+" ") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("whitelisted path %q never ran", c.Path)
		}
	}
}
