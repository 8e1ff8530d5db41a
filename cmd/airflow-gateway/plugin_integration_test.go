package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airflow-gateway/airflow-gateway/commands"
	"github.com/airflow-gateway/airflow-gateway/commands/procfs"
	"github.com/airflow-gateway/airflow-gateway/testbed"
)

// The ways a plugin client sends its arguments: all in the query string, or api in the query string and
// the rest in an urlencoded or multipart form.
const (
	viaGET       = "GET"
	viaForm      = "FORM"
	viaMultipart = "MULTIPART"
)

var allWays = []string{viaGET, viaForm, viaMultipart}

// pluginAnswer is one envelope and the HTTP status it came with.
type pluginAnswer struct {
	Status int
	Env    map[string]any
}

func (a *pluginAnswer) output() map[string]any { m, _ := a.Env["output"].(map[string]any); return m }

func (a *pluginAnswer) stdout() string { s, _ := a.output()["stdout"].(string); return s }

func (a *pluginAnswer) text() string { s, _ := a.Env["output"].(string); return s }

func (a *pluginAnswer) String() string { b, _ := json.Marshal(a.Env); return tail(string(b)) }

// plugin calls /admin/rest_api/api with query sent the given way, and checks the envelope's fields: the
// times are HTTP dates inside the request's window, http_response_code is the status, status says OK or
// ERROR, and a command that ran has its output object and airflow_cmd.
func (g *gatewayClient) plugin(tb testing.TB, way, query string) *pluginAnswer {
	tb.Helper()
	values, err := url.ParseQuery(query)
	if err != nil {
		tb.Fatal(err)
	}
	target := "/admin/rest_api/api?"
	method, body, ctype := http.MethodGet, io.Reader(nil), ""
	switch way {
	case viaGET:
		target += query
	case viaForm:
		api := url.Values{"api": values["api"]}
		values.Del("api")
		target += api.Encode()
		method, body, ctype = http.MethodPost, strings.NewReader(values.Encode()), "application/x-www-form-urlencoded"
	case viaMultipart:
		api := url.Values{"api": values["api"]}
		values.Del("api")
		var form bytes.Buffer
		w := multipart.NewWriter(&form)
		for k, vs := range values {
			_ = w.WriteField(k, vs[0])
		}
		w.Close()
		target += api.Encode()
		method, body, ctype = http.MethodPost, &form, w.FormDataContentType()
	}
	var header []string
	if ctype != "" {
		header = []string{"Content-Type", ctype}
	}
	before := time.Now()
	answer := g.Plugin().Do(tb, method, target, body, header...)
	g.record(query, answer.Body)
	a := &pluginAnswer{Status: answer.Status}
	answer.Decode(tb, &a.Env)
	checkEnvelope(tb, way+" "+query, a, before, time.Now())
	return a
}

func checkEnvelope(tb testing.TB, label string, a *pluginAnswer, before, after time.Time) {
	tb.Helper()
	for _, key := range []string{"call_time", "response_time"} {
		s, _ := a.Env[key].(string)
		at, err := http.ParseTime(s)
		if err != nil || !strings.HasSuffix(s, " GMT") || at.Before(before.Truncate(time.Second)) || at.After(after) {
			tb.Errorf("%s: %s %q is not an HTTP date within %s..%s", label, key, s, before.UTC().Format(time.TimeOnly), after.UTC().Format(time.TimeOnly))
		}
	}
	if code, _ := a.Env["http_response_code"].(float64); int(code) != a.Status {
		tb.Errorf("%s: http_response_code %v with status %d", label, a.Env["http_response_code"], a.Status)
	}
	if want := map[bool]string{true: "OK", false: "ERROR"}[a.Status < 400]; a.Env["status"] != want {
		tb.Errorf("%s: status %v with HTTP %d", label, a.Env["status"], a.Status)
	}
	if _, ok := a.Env["arguments"].(map[string]any); !ok {
		tb.Errorf("%s: no arguments object", label)
	}
	if _, ran := a.Env["airflow_cmd"]; ran {
		out := a.output()
		if out == nil && a.Env["daemon"] == nil && !strings.Contains(label, "deploy_dag") {
			tb.Errorf("%s: a command ran but output is %v", label, a.Env["output"])
		} else if out != nil && out["stdin"] != "" {
			tb.Errorf("%s: stdin %v", label, out["stdin"])
		}
	}
}

// pluginOK calls the API and fails tb unless it answered 200.
func (g *gatewayClient) pluginOK(tb testing.TB, way, query string) *pluginAnswer {
	tb.Helper()
	a := g.plugin(tb, way, query)
	if a.Status != http.StatusOK {
		tb.Fatalf("%s %s: %d %s", way, query, a.Status, a)
	}
	return a
}

// pluginFails calls the API and fails tb unless it answered status with output holding says.
func (g *gatewayClient) pluginFails(tb testing.TB, way, query string, status int, says string) {
	tb.Helper()
	a := g.plugin(tb, way, query)
	if a.Status != status || !strings.Contains(a.text(), says) {
		tb.Errorf("%s %s: %d %q, want %d saying %q", way, query, a.Status, a.text(), status, says)
	}
}

// TestPluginDialectAgainstAirflow calls every plugin API, each with GET, a form and a multipart form, on
// each Airflow version, and checks what it did through the CLI.
func TestPluginDialectAgainstAirflow(t *testing.T) {
	forEachAirflow(t, testbed.Config{}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		v2 := major == "2"
		airflowVersion := strings.TrimSpace(home.Run(t, "version"))

		t.Run("own answers", func(t *testing.T) {
			// The gateway's own answers; the first is the plugin README's token example.
			for _, way := range allWays {
				if got := g.pluginOK(t, way, "api=version").text(); got != airflowVersion {
					t.Errorf("version: %q, want %q", got, airflowVersion)
				}
				if got := g.pluginOK(t, way, "api=rest_api_plugin_version").text(); got != version {
					t.Errorf("rest_api_plugin_version: %q", got)
				}
			}
		})

		t.Run("variables", func(t *testing.T) {
			// Variables: the README's example, then the other operations, each way.
			g.pluginOK(t, viaGET, "api=variables&cmd=set&key=myVar1&value=myValue1")
			g.pluginOK(t, viaForm, "api=variables&cmd=set&key=myVar2&value=my+value+2")
			g.pluginOK(t, viaMultipart, "api=variables&cmd=set&key=myVar3&value=--not-a-flag")
			if got := strings.TrimSpace(home.Run(t, "variables", "get", "myVar1")); got != "myValue1" {
				t.Errorf("myVar1 = %q", got)
			}
			if got := strings.TrimSpace(g.pluginOK(t, viaForm, "api=variables&get=myVar2").stdout()); got != "my value 2" {
				t.Errorf("get myVar2: %q", got)
			}
			if got := strings.TrimSpace(g.pluginOK(t, viaMultipart, "api=variables&cmd=get&key=myVar3").stdout()); got != "--not-a-flag" {
				t.Errorf("get myVar3: %q", got)
			}
			g.pluginOK(t, viaGET, "api=variables&delete=myVar3")
			g.pluginOK(t, viaForm, "api=variables&cmd=set&key=api_key&value="+plantedVariable)
			if got := strings.TrimSpace(g.pluginOK(t, viaGET, "api=variables&get=api_key").stdout()); got != plantedVariable {
				t.Errorf("get api_key: %q", got)
			}
			if list := g.pluginOK(t, viaGET, "api=variables").stdout(); !strings.Contains(list, "myVar2") || strings.Contains(list, "myVar3") {
				t.Errorf("variables after delete: %q", list)
			}
		})

		t.Run("pools", func(t *testing.T) {
			// Pools: the README's example; its effect read through the CLI.
			g.pluginOK(t, viaGET, "api=pool&cmd=set&pool_name=myTestpool&slot_count=10&description=myTestpoolDescription")
			g.pluginOK(t, viaForm, "api=pool&cmd=set&pool_name=gw_pool2&slot_count=3&pool_description=second+pool")
			var pools []map[string]any
			if err := json.Unmarshal([]byte(home.Run(t, "pools", "get", "myTestpool", "-o", "json")), &pools); err != nil || len(pools) != 1 ||
				fmt.Sprint(pools[0]["slots"]) != "10" || pools[0]["description"] != "myTestpoolDescription" {
				t.Errorf("pools get myTestpool: %v %v", pools, err)
			}
			if s := g.pluginOK(t, viaMultipart, "api=pool&get=gw_pool2").stdout(); !strings.Contains(s, "second pool") {
				t.Errorf("pool get: %q", s)
			}
			g.pluginOK(t, viaMultipart, "api=pool&delete=gw_pool2")
			if s := g.pluginOK(t, viaGET, "api=pool").stdout(); !strings.Contains(s, "myTestpool") || strings.Contains(s, "gw_pool2") {
				t.Errorf("pools after delete: %q", s)
			}
		})

		t.Run("connections", func(t *testing.T) {
			// Connections.
			g.pluginOK(t, viaGET, "api=connections&add=on&conn_id=gw_conn&conn_uri="+url.QueryEscape("postgres://user:"+plantedURIPassword+"@db.example:5432/x"))
			if s := g.pluginOK(t, viaForm, "api=connections&list=on").stdout(); !strings.Contains(s, "gw_conn") {
				t.Errorf("connections list: %q", s)
			}
			g.pluginOK(t, viaMultipart, "api=connections&delete=on&conn_id=gw_conn")
		})

		t.Run("pause and unpause", func(t *testing.T) {
			// Pause and unpause, checked through the CLI.
			g.pluginOK(t, viaForm, "api=unpause&dag_id=gw_conf")
			if p := isPaused(t, home, "gw_conf"); p != "false" {
				t.Errorf("after unpause, is_paused = %s", p)
			}
			g.pluginOK(t, viaMultipart, "api=pause&dag_id=gw_conf")
			g.pluginOK(t, viaGET, "api=pause&dag_id=gw_conf")
			if p := isPaused(t, home, "gw_conf"); p != "true" {
				t.Errorf("after pause, is_paused = %s", p)
			}
			g.pluginOK(t, viaGET, "api=unpause&dag_id=gw_fails")
		})

		t.Run("triggering", func(t *testing.T) {
			// Triggering: the README's example, then runs with dates and conf, checked through the CLI.
			g.pluginOK(t, viaGET, "api=trigger_dag&dag_id=gw_conf&run_id=run_id_2016_01_01&conf=%7B%22key%22%3A%22value%22%7D")
			g.pluginOK(t, viaForm, "api=trigger_dag&dag_id=gw_conf&run_id=gw_form_run&exec_date=2024-03-01&conf=%7B%22from%22%3A%22form%22%7D")
			g.pluginOK(t, viaMultipart, "api=trigger_dag&dag_id=gw_two_tasks&run_id=gw_multipart_run&exec_date=2024-03-02T00:00:00%2B00:00")
			listRuns := []string{"dags", "list-runs", "gw_conf", "-o", "json"}
			if v2 {
				listRuns = []string{"dags", "list-runs", "-d", "gw_conf", "-o", "json"}
			}
			if runs := home.Run(t, listRuns...); !strings.Contains(runs, "run_id_2016_01_01") || !strings.Contains(runs, "gw_form_run") {
				t.Errorf("runs after trigger: %s", runs)
			}
			if s := home.Run(t, "dags", "state", "gw_conf", "2024-03-01"); !strings.Contains(s, `{"from": "form"}`) {
				t.Errorf("the triggered run lacks its conf: %q", s)
			}
			// Each API is sent one way (an Airflow start costs seconds); together they use all three.
			for i, tt := range []struct{ query, want string }{
				{"api=dag_state&dag_id=gw_conf&execution_date=2024-03-01", "queued"},
				{"api=task_state&dag_id=gw_conf&task_id=show_conf&execution_date=2024-03-01", "None"},
				{"api=task_failed_deps&dag_id=gw_conf&task_id=show_conf&execution_date=2024-03-01", "paused"},
				{"api=render&dag_id=gw_conf&task_id=show_conf&execution_date=2024-03-01", "property"},
			} {
				way := allWays[i%len(allWays)]
				if s := g.pluginOK(t, way, tt.query).stdout(); !strings.Contains(s, tt.want) {
					t.Errorf("%s %s: %q", way, tt.query, s)
				}
			}
		})

		t.Run("listing", func(t *testing.T) {
			// Listing.
			a := g.pluginOK(t, viaMultipart, "api=list_tasks&dag_id=gw_two_tasks&tree=on")
			if s := a.stdout(); !strings.Contains(s, "extract") || !strings.Contains(s, "load") {
				t.Errorf("list_tasks: %q", s)
			}
			if w, _ := a.Env["warning"].(string); v2 == strings.Contains(w, "'tree'") {
				t.Errorf("list_tasks warning %q on Airflow %s", w, major)
			}
			g.pluginOK(t, viaGET, "api=list_dags")
			if s := g.pluginOK(t, viaForm, "api=list_dags&report=on").stdout(); !strings.Contains(s, "gw_two_tasks") {
				t.Errorf("list_dags report: %q", s)
			}
			if s := g.pluginOK(t, viaMultipart, "api=list_dags&subdir=gw_conf.py").stdout(); !strings.Contains(s, "gw_conf") {
				t.Errorf("list_dags subdir: %q", s)
			}
		})

		t.Run("running tasks", func(t *testing.T) {
			// Running tasks.
			if s := g.pluginOK(t, viaGET, "api=test&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01").stdout(); !strings.Contains(s, "extracted 3 rows") {
				t.Errorf("test: %q", tail(s))
			}
			g.pluginOK(t, viaForm, "api=test&dag_id=gw_conf&task_id=show_conf&execution_date=2024-01-01&task_params=%7B%22p%22%3A1%7D")
			if v2 {
				g.pluginOK(t, viaMultipart, "api=test&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01&dry_run=on")
				g.pluginOK(t, viaForm, "api=run&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-03-02T00:00:00%2B00:00&local=on")
				if s := home.Run(t, "tasks", "state", "gw_two_tasks", "extract", "2024-03-02T00:00:00+00:00"); !strings.Contains(s, "success") {
					t.Errorf("after run, the task is %q", s)
				}
			} else {
				g.pluginFails(t, viaMultipart, "api=test&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-01-01&dry_run=on", 400, "'dry_run' is not available")
				for _, way := range allWays {
					g.pluginFails(t, way, "api=run&dag_id=gw_two_tasks&task_id=extract&execution_date=2024-03-02", 400, "use API 'test'")
				}
			}
			backfillDag := "gw_two_tasks"
			if v2 {
				backfillDag = "gw_conf" // Airflow 2.10's dry run trips over gw_two_tasks' XComArg
			}
			g.pluginOK(t, viaForm, "api=backfill&dag_id="+backfillDag+"&start_date=2024-01-01&end_date=2024-01-01&dry_run=on")
		})

		t.Run("clearing", func(t *testing.T) {
			// Clearing: a DAG test records its task states; clearing one makes it run again.
			g.ok(t, "dags test gw_two_tasks 2024-01-02") // through the warm executor: a cold start would only cost time
			state := func() string {
				return strings.TrimSpace(commands.LastLine(home.Run(t, "tasks", "state", "gw_two_tasks", "extract", "2024-01-02")))
			}
			if s := state(); s != "success" {
				t.Fatalf("before clear, extract is %q", s)
			}
			// (Airflow 3.3.2's `tasks clear -t` matched nothing with the anchored `^extract$` when tried.)
			g.pluginOK(t, viaGET, "api=clear&dag_id=gw_two_tasks&task_regex=extract&start_date=2024-01-02&end_date=2024-01-02")
			if s := state(); s == "success" {
				t.Errorf("after clear, extract is still %q", s)
			}
			g.pluginOK(t, viaForm, "api=clear&dag_id=gw_conf&only_failed=on")
			g.pluginOK(t, viaMultipart, "api=clear&dag_id=gw_conf&only_running=on&upstream=on&downstream=on")
		})

		t.Run("refreshing", func(t *testing.T) {
			// Refreshing.
			g.pluginOK(t, viaGET, "api=refresh_dag&dag_id=gw_conf")
			g.pluginOK(t, viaMultipart, "api=refresh_all_dags")
		})

		t.Run("daemons off", func(t *testing.T) {
			// Daemons are off unless allowed.
			for _, api := range []string{"kerberos", "worker", "flower", "scheduler", "serve_logs"} {
				for _, way := range allWays {
					g.pluginFails(t, way, "api="+api, 403, "allow_daemons = True")
				}
			}
		})

		g.deployAgainstAirflow(t, home)
		g.assertNoSecrets(t)
	})
}

// deployAgainstAirflow deploys DAG files: new, existing without force, replaced with force (a backup is
// kept), with pause, and one with an import error.
func (g *gatewayClient) deployAgainstAirflow(t *testing.T, home *testbed.Home) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	v1 := write("gw_uploaded.py", testbed.UploadedDAG("gw_uploaded", "first"))
	broken := write("gw_broken.py", "from airflow import DAG\nraise RuntimeError('broken on purpose')\n")

	// The plugin README's curl example, verbatim but for the file and the token.
	a := g.curlDeploy(t, v1, "-F", "force=on")
	if a.Status != 200 || a.text() != "DAG file 'gw_uploaded.py' deployed." {
		t.Fatalf("deploy: %s", a)
	}
	if got, _ := os.ReadFile(filepath.Join(home.Dags, "gw_uploaded.py")); string(got) != testbed.UploadedDAG("gw_uploaded", "first") {
		t.Errorf("the deployed file holds %q", got)
	}
	a = g.curlDeploy(t, v1)
	if a.Status != 400 || a.text() != "The file 'gw_uploaded.py' already exists; send force=on to replace it (the old file is kept as a backup)" {
		t.Errorf("deploy again without force: %s", a)
	}
	v2 := write("gw_uploaded.py", testbed.UploadedDAG("gw_uploaded", "second"))
	a = g.curlDeploy(t, v2, "-F", "force=on", "-F", "pause=on")
	if a.Status != 200 || !strings.Contains(a.text(), "Paused: gw_uploaded.") || !strings.Contains(a.text(), "dag-backups/gw_uploaded.py.") {
		t.Errorf("deploy with force and pause: %s", a)
	}
	backups, _ := filepath.Glob(filepath.Join(home.Dir, "airflow-gateway", "dag-backups", "gw_uploaded.py.*"))
	if len(backups) != 1 {
		t.Errorf("backups: %v", backups)
	} else if got, _ := os.ReadFile(backups[0]); string(got) != testbed.UploadedDAG("gw_uploaded", "first") {
		t.Errorf("the backup holds %q", got)
	}
	if p := isPaused(t, home, "gw_uploaded"); p != "true" {
		t.Errorf("the deployed DAG's is_paused is %s", p)
	}

	a = g.curlDeploy(t, broken)
	if w, _ := a.Env["warning"].(string); a.Status != 200 || !strings.Contains(w, "gw_broken.py") || !strings.Contains(w, "broken on purpose") {
		t.Errorf("deploy with an import error: %s", a)
	}
	if strings.Contains(a.text()+fmt.Sprint(a.Env["warning"]), home.Dags) {
		t.Errorf("the message shows the DAGs folder's path: %s", a)
	}
	// The broken file would trouble the tests that follow: take it away again.
	if err := os.Remove(filepath.Join(home.Dags, "gw_broken.py")); err != nil {
		t.Error(err)
	}

	// deploy_dag without a file, as GET and as an urlencoded form.
	g.pluginFails(t, viaGET, "api=deploy_dag&force=on", 400, "The argument(s) ['dag_file'] are required")
	g.pluginFails(t, viaForm, "api=deploy_dag&force=on", 400, "The argument(s) ['dag_file'] are required")
}

// isPaused asks the CLI whether a DAG is paused: "true", "false", or "?" when it cannot tell.
func isPaused(tb testing.TB, home *testbed.Home, dag string) string {
	tb.Helper()
	rows, _ := commands.ParseJSONOutput(home.Run(tb, "dags", "details", dag, "-o", "json")).([]any)
	if len(rows) == 0 {
		return "?"
	}
	row, _ := rows[0].(map[string]any)
	return strings.ToLower(fmt.Sprint(row["is_paused"]))
}

// curlDeploy uploads file with curl, as the plugin README shows, plus the token header.
func (g *gatewayClient) curlDeploy(tb testing.TB, file string, extra ...string) *pluginAnswer {
	tb.Helper()
	args := []string{"-sS", "-X", "POST", "-H", "Content-Type: multipart/form-data", "-H", "rest_api_plugin_http_token: " + testToken,
		"-F", "dag_file=@" + file}
	args = append(append(args, extra...), g.URL+"/admin/rest_api/api?api=deploy_dag")
	before := time.Now()
	cmd := exec.Command("curl", append(args, "-w", "\n%{http_code}")...)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("curl: %v", err)
	}
	body, code, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	g.record("deploy_dag", []byte(body))
	a := &pluginAnswer{}
	fmt.Sscan(code, &a.Status)
	if err := json.Unmarshal([]byte(body), &a.Env); err != nil {
		tb.Fatalf("curl deploy: %v: %q", err, out)
	}
	checkEnvelope(tb, "deploy_dag "+filepath.Base(file), a, before, time.Now())
	return a
}

// stop ends the daemon pid and everything else in its session: Airflow's scheduler puts some of its
// children (the DAG processor manager) in process groups of their own, but they stay in its session.
func stop(tb testing.TB, pid int) {
	tb.Helper()
	p, ok := procfs.Stat(pid)
	if !ok {
		return
	}
	sid := p.SID
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(20 * time.Second); procfs.Alive(pid) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		left := sessionMembers(sid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("processes of the daemon's session outlived SIGKILL: %v", left)
		}
		for _, p := range left {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// sessionMembers lists the live processes of session sid.
func sessionMembers(sid int) []int {
	var pids []int
	for _, pid := range procfs.PIDs() {
		if p, ok := procfs.Stat(pid); ok && p.SID == sid && p.State != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPluginDaemonsAgainstAirflow lets a gateway start the scheduler as a daemon: it runs detached with
// the gateway's pid file, and a second start is refused while it runs.
func TestPluginDaemonsAgainstAirflow(t *testing.T) {
	forEachAirflow(t, testbed.Config{AllowDaemons: true}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		pidFile := filepath.Join(home.Dir, "airflow-gateway", "daemons", "scheduler.pid")
		// Whatever happens, the daemon and its children (its session's process group) go at the end.
		t.Cleanup(func() {
			if data, err := os.ReadFile(pidFile); err == nil {
				var pid int
				fmt.Sscan(string(data), &pid)
				if pid > 0 {
					stop(t, pid)
				}
			}
		})
		a := g.pluginOK(t, viaGET, "api=scheduler&num_runs=1000")
		d, _ := a.Env["daemon"].(map[string]any)
		pid, _ := d["pid"].(float64)
		if pid <= 0 || !strings.Contains(a.Env["airflow_cmd"].(string), "--pid="+pidFile) {
			t.Fatalf("scheduler: %s", a)
		}
		if !procfs.Alive(int(pid)) {
			t.Fatalf("the daemon (pid %v) is not running", pid)
		}
		g.pluginFails(t, viaForm, "api=scheduler", 409, "still running")
		g.pluginFails(t, viaMultipart, "api=worker", 400, "apache-airflow-providers-celery")
		g.pluginFails(t, viaGET, "api=flower", 400, "apache-airflow-providers-celery")
		g.pluginFails(t, viaGET, "api=serve_logs", 400, "serve their logs themselves")
		g.pluginFails(t, viaGET, "api=scheduler&pid=/tmp/mine.pid", 400, "'pid' is not accepted")

		// Stopped, it may be started again. A scheduler caught early in its start can take long over
		// SIGTERM; stopping it is not what is under test, so it gets SIGKILL after a while.
		stop(t, int(pid))
		a = g.pluginOK(t, viaGET, "api=scheduler")
		if d, _ := a.Env["daemon"].(map[string]any); d["pid"] == pid {
			t.Errorf("the second daemon has the first one's pid: %s", a)
		}
	})
}

// TestRolesAgainstAirflow gives a gateway named tokens of each role from a tokens file (hashed with
// hash-token) and, in the plugin and command dialects, runs one command at each role's level and is refused one above it.
func TestRolesAgainstAirflow(t *testing.T) {
	tokensFile := mustTokensFile(t, "Viewer", "User", "Op")
	forEachAirflow(t, testbed.Config{TokensFile: tokensFile}, func(t *testing.T, major string, home *testbed.Home, g *gatewayClient) {
		tests := []struct {
			role, command, above, api, apiAbove string
		}{
			{"Viewer", "dags list", "dags pause gw_conf", "api=list_dags", "api=pause&dag_id=gw_conf"},
			{"User", "dags pause gw_conf", "variables list", "api=unpause&dag_id=gw_conf", "api=variables"},
			{"Op", "variables list", "dags delete gw_fails -y", "api=pool&cmd=set&pool_name=p&slot_count=1&description=d", "api=deploy_dag"},
		}
		for _, tt := range tests {
			tok := roleTokenOf(tt.role)
			if status, _ := g.as(t, tok, "/api/v1/command?command="+url.QueryEscape(tt.command)); status != 200 {
				t.Errorf("%s: %s answered %d", tt.role, tt.command, status)
			}
			if status, body := g.as(t, tok, "/api/v1/command?command="+url.QueryEscape(tt.above)); status != 403 || !strings.Contains(body, "needs role") {
				t.Errorf("%s: %s answered %d %s", tt.role, tt.above, status, body)
			}
			if status, body := g.as(t, tok, "/admin/rest_api/api?"+tt.api); status != 200 {
				t.Errorf("%s: %s answered %d %s", tt.role, tt.api, status, tail(body))
			}
			if status, body := g.as(t, tok, "/admin/rest_api/api?"+tt.apiAbove); status != 403 || !strings.Contains(body, "needs role") {
				t.Errorf("%s: %s answered %d %s", tt.role, tt.apiAbove, status, body)
			}
		}
		// Op is below Admin: deploy_dag is refused.
		if status, body := g.as(t, roleTokenOf("Op"), "/admin/rest_api/api?api=deploy_dag"); status != 403 || !strings.Contains(body, "needs role Admin") {
			t.Errorf("Op deploy_dag: %d %s", status, body)
		}
		// Airflow's own audit log (the UI's Audit Log) names the token that sent each command.
		owners := home.SQL(t, "SELECT DISTINCT owner FROM log WHERE owner LIKE 'gateway-%' ORDER BY owner")
		if want := "gateway-op-bot\ngateway-user-bot\ngateway-viewer-bot\n"; owners != want {
			t.Errorf("owners in Airflow's log table: %q, want %q", owners, want)
		}
		logs := g.logs.String()
		for _, role := range []string{"Viewer", "User", "Op"} {
			if strings.Contains(logs, roleTokenOf(role)) {
				t.Errorf("the log shows the %s token", role)
			}
			if !strings.Contains(logs, "token="+strings.ToLower(role)+"-bot") {
				t.Errorf("the access log never names the %s token", role)
			}
		}
	})
}

// mustTokensFile writes a tokens file with a token per role, named ROLE-bot, hashed by `airflow-gateway
// hash-token`; roleTokenOf gives each token.
func mustTokensFile(tb testing.TB, roles ...string) string {
	tb.Helper()
	var file strings.Builder
	for _, role := range roles {
		var sum bytes.Buffer
		if err := run(context.Background(), []string{"hash-token"}, func(string) string { return "" }, strings.NewReader(roleTokenOf(role)), &sum, io.Discard); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&file, "[%s-bot]\nrole = %s\nsha256 = %s\n", strings.ToLower(role), role, strings.TrimSpace(sum.String()))
	}
	path := filepath.Join(tb.TempDir(), "tokens.ini")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func roleTokenOf(role string) string { return strings.ToLower(role) + "-integration-token-0123456789" }

// as sends a GET with token and returns the status and body.
func (g *gatewayClient) as(tb testing.TB, token, target string) (int, string) {
	tb.Helper()
	a := g.As(token).Get(tb, target)
	g.record(target, a.Body)
	return a.Status, string(a.Body)
}
